/*
 * Starts Beam's Java SDK harness: the Java half of the fraud pipeline's Kafka read and write,
 * run by Flink without Docker. Two ways:
 *
 * - PROCESS environment: the runner starts this with only --id, --provision_endpoint and
 *   --semi_persist_dir, and the harness runs in this JVM.
 * - A worker pool (--pool_port=PORT) for an EXTERNAL environment: one long-lived JVM that
 *   answers Beam's StartWorker requests with a harness thread each. A job then starts no JVM
 *   (Flink asks for one per Python worker process: three JVMs, ~3 s of start-up each on the
 *   critical path of a live job's first alert) and runs on code the JIT compiled for the jobs
 *   before it. It listens on the loopback interface only: a request names endpoints to connect
 *   to, and nothing authenticates it.
 *
 * Either way everything the harness needs (its control and logging endpoints, the pipeline
 * options, the runner's capabilities) comes from the provision service, which is what Beam's
 * container boot program asks. Beam's own ExternalWorkerService gives every worker the pool's
 * options instead of its job's. scripts/kafka.sh compiles this next to the expansion
 * service's jars.
 */

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.beam.fn.harness.FnHarness;
import org.apache.beam.model.fnexecution.v1.BeamFnApi.StartWorkerRequest;
import org.apache.beam.model.fnexecution.v1.BeamFnApi.StartWorkerResponse;
import org.apache.beam.model.fnexecution.v1.BeamFnApi.StopWorkerRequest;
import org.apache.beam.model.fnexecution.v1.BeamFnApi.StopWorkerResponse;
import org.apache.beam.model.fnexecution.v1.BeamFnExternalWorkerPoolGrpc;
import org.apache.beam.model.fnexecution.v1.ProvisionApi.GetProvisionInfoRequest;
import org.apache.beam.model.fnexecution.v1.ProvisionApi.ProvisionInfo;
import org.apache.beam.model.fnexecution.v1.ProvisionServiceGrpc;
import org.apache.beam.vendor.grpc.v1p60p1.com.google.protobuf.TextFormat;
import org.apache.beam.vendor.grpc.v1p60p1.com.google.protobuf.util.JsonFormat;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.ManagedChannel;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.ManagedChannelBuilder;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.Metadata;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.Server;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.netty.NettyServerBuilder;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.stub.MetadataUtils;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.stub.StreamObserver;

public final class JavaHarnessBoot {
  private static final Metadata.Key<String> WORKER_ID =
      Metadata.Key.of("worker_id", Metadata.ASCII_STRING_MARSHALLER);

  public static void main(String[] args) throws Exception {
    Map<String, String> flags = new HashMap<>();
    for (String arg : args) {
      int equals = arg.indexOf('=');
      if (arg.startsWith("--") && equals > 2) {
        flags.put(arg.substring(2, equals), arg.substring(equals + 1));
      }
    }
    if (flags.containsKey("pool_port")) {
      servePool(Integer.parseInt(flags.get("pool_port")));
      return;
    }
    runHarness(required(flags, "id"), required(flags, "provision_endpoint"));
  }

  private static void servePool(int port) throws Exception {
    InetSocketAddress address = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
    Server server = NettyServerBuilder.forAddress(address).addService(new Pool()).build().start();
    System.err.println("Java worker pool listening on " + address);
    server.awaitTermination();
  }

  private static final class Pool extends BeamFnExternalWorkerPoolGrpc.BeamFnExternalWorkerPoolImplBase {
    @Override
    public void startWorker(StartWorkerRequest request, StreamObserver<StartWorkerResponse> reply) {
      String workerId = request.getWorkerId();
      StartWorkerResponse.Builder response = StartWorkerResponse.newBuilder();
      if (workerId.isEmpty() || !request.hasProvisionEndpoint()) {
        response.setError("a worker needs an id and a provision endpoint");
      } else {
        String provision = request.getProvisionEndpoint().getUrl();
        Thread harness =
            new Thread(
                () -> {
                  try {
                    runHarness(workerId, provision);
                    System.err.println("Java harness " + workerId + " ended");
                  } catch (Throwable error) { // one job's harness must not end the pool
                    System.err.println("Java harness " + workerId + " failed: " + error);
                    error.printStackTrace();
                  }
                },
                "java-harness-" + workerId);
        harness.setDaemon(true);
        harness.start();
        System.err.println("Java harness " + workerId + " started for " + provision);
      }
      reply.onNext(response.build());
      reply.onCompleted();
    }

    @Override
    public void stopWorker(StopWorkerRequest request, StreamObserver<StopWorkerResponse> reply) {
      // The harness ends by itself when the runner closes its control channel.
      reply.onNext(StopWorkerResponse.getDefaultInstance());
      reply.onCompleted();
    }
  }

  /** Runs one harness to its end: it returns when the runner closes the control channel. */
  private static void runHarness(String workerId, String provisionEndpoint) throws Exception {
    ProvisionInfo info = provisionInfo(provisionEndpoint, workerId);
    // The variables the harness reads at start (as the container's boot program sets them).
    Map<String, String> environment = new HashMap<>(System.getenv());
    environment.put("HARNESS_ID", workerId);
    environment.put("PIPELINE_OPTIONS", JsonFormat.printer().print(info.getPipelineOptions()));
    environment.put("LOGGING_API_SERVICE_DESCRIPTOR", text(info.getLoggingEndpoint()));
    environment.put("CONTROL_API_SERVICE_DESCRIPTOR", text(info.getControlEndpoint()));
    if (info.hasStatusEndpoint()) {
      environment.put("STATUS_API_SERVICE_DESCRIPTOR", text(info.getStatusEndpoint()));
    }
    environment.put("RUNNER_CAPABILITIES", String.join(" ", info.getRunnerCapabilitiesList()));
    FnHarness.main(environment::get);
  }

  private static ProvisionInfo provisionInfo(String endpoint, String workerId) throws Exception {
    Metadata headers = new Metadata();
    headers.put(WORKER_ID, workerId);
    ManagedChannel channel = ManagedChannelBuilder.forTarget(endpoint).usePlaintext().build();
    try {
      // A deadline: a runner gone after StartWorker would otherwise hold a pool thread forever.
      return ProvisionServiceGrpc.newBlockingStub(channel)
          .withDeadlineAfter(60, TimeUnit.SECONDS)
          .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
          .getProvisionInfo(GetProvisionInfoRequest.getDefaultInstance())
          .getInfo();
    } finally {
      channel.shutdownNow();
    }
  }

  private static String text(org.apache.beam.vendor.grpc.v1p60p1.com.google.protobuf.Message m) {
    return TextFormat.printer().printToString(m);
  }

  private static String required(Map<String, String> flags, String name) {
    String value = flags.get(name);
    if (value == null || value.isEmpty()) {
      throw new IllegalArgumentException("missing --" + name + "=...");
    }
    return value;
  }

  private JavaHarnessBoot() {}
}
