package streamflow.beam;

import java.net.URISyntaxException;
import java.nio.file.Paths;
import java.util.Collections;
import java.util.List;
import org.apache.beam.sdk.util.construction.resources.PipelineResourcesDetector;

/**
 * Stages one tiny jar, the one holding this class: whoever runs the job's Java code already has
 * everything else on its classpath (Beam refuses an empty list where it lists dependencies).
 *
 * <p>Beam's default detector scans the whole classpath (ClassGraph) and ships every jar on it.
 * The job server did so with every job, about 170 MB that the cluster stored and loaded again
 * into a class loader of that job (about 12 s of a live job's start-up, and metaspace that grew
 * with each job); the expansion service did so for every Kafka transform it expanded, as the
 * dependencies of the Java environment. Here the local Flink cluster carries Beam's runner and
 * the Kafka IO in its lib folder (scripts/flink.sh), and the Java SDK harness starts from the
 * expansion service's own jars (scripts/kafka.sh), so the launcher selects this detector
 * ({@code --pipeline_resources_detector_factory_class}) for that cluster only.
 */
public final class MinimalStaging implements PipelineResourcesDetector.Factory {

  /** How Beam makes the factory an option names (InstanceBuilder: a static create()). */
  public static MinimalStaging create() {
    return new MinimalStaging();
  }

  @Override
  public PipelineResourcesDetector getPipelineResourcesDetector() {
    return new Detector();
  }

  private static final class Detector implements PipelineResourcesDetector {
    private static final long serialVersionUID = 1L;

    @Override
    public List<String> detect(ClassLoader classLoader) {
      try {
        return Collections.singletonList(
            Paths.get(MinimalStaging.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                .toString());
      } catch (URISyntaxException e) {
        throw new IllegalStateException("cannot locate the jar of " + MinimalStaging.class, e);
      }
    }
  }
}
