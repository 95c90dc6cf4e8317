/*
 * Starts Beam's Java SDK harness for a PROCESS environment: the Java half of the fraud
 * pipeline's Kafka read and write, run by Flink without Docker.
 *
 * The runner starts the environment's command with only --id, --provision_endpoint and
 * --semi_persist_dir. Everything else the harness needs (its control and logging endpoints,
 * the pipeline options, the runner's capabilities) comes from the provision service, which
 * is what Beam's container boot program asks; this does the same and then runs the harness in
 * this JVM. scripts/kafka.sh compiles it next to the expansion service's jars.
 */

import java.util.HashMap;
import java.util.Map;
import org.apache.beam.fn.harness.FnHarness;
import org.apache.beam.model.fnexecution.v1.ProvisionApi.GetProvisionInfoRequest;
import org.apache.beam.model.fnexecution.v1.ProvisionApi.ProvisionInfo;
import org.apache.beam.model.fnexecution.v1.ProvisionServiceGrpc;
import org.apache.beam.vendor.grpc.v1p60p1.com.google.protobuf.TextFormat;
import org.apache.beam.vendor.grpc.v1p60p1.com.google.protobuf.util.JsonFormat;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.ManagedChannel;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.ManagedChannelBuilder;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.Metadata;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.stub.MetadataUtils;

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
    String workerId = required(flags, "id");
    ProvisionInfo info = provisionInfo(required(flags, "provision_endpoint"), workerId);

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
      return ProvisionServiceGrpc.newBlockingStub(channel)
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
