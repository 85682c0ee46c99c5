package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The Spark image's entrypoint, stood in for. Pods that spark-submit creates on
// Kubernetes (the driver of a cluster-mode application, its executors) have no
// command: their args are `driver --properties-file ... --class ... APP` or
// `executor`, and the image's entrypoint script turns those into a command line.
// The sandbox runs images from local environments, so for an environment that has
// PySpark (which ships Spark's launcher scripts and jars) the agent builds the same
// command lines here:
//   - driver: spark-submit in client deploy mode, bound to the pod's address, talking to
//     the cluster's loopback apiserver (spark.kubernetes.driver.master) with the pod's
//     service-account token, as a driver does in-cluster;
//   - executor: the Kubernetes executor backend, connecting to SPARK_DRIVER_URL.
// Any other first argument is run as a command, as the entrypoint does.

// sparkExecutorBackend is the executor's main class in Spark's Kubernetes support.
const sparkExecutorBackend = "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend"

// sparkHomeFor returns the PySpark directory (Spark's home) of the environment whose
// programs are in bin, or "" if it has none.
func sparkHomeFor(bin string) string {
	found, _ := filepath.Glob(filepath.Join(filepath.Dir(bin), "lib", "python*", "site-packages", "pyspark", "bin", "spark-submit"))
	if len(found) == 0 {
		return ""
	}
	return filepath.Dir(filepath.Dir(found[0]))
}

// connectServerScript is how the Spark operator's SparkConnect controller starts its
// server pod: `bash -c "${SPARK_HOME}/sbin/start-connect-server.sh --master ... --conf ..."`.
const connectServerScript = "${SPARK_HOME}/sbin/start-connect-server.sh"

// isSparkConnectServerCall says whether a container is a Spark Connect server started
// the way the Spark operator starts one. It needs no rewriting, only the image's
// SPARK_HOME: the environment's PySpark ships sbin/start-connect-server.sh.
func isSparkConnectServerCall(command, args []string) bool {
	if len(command) != 2 || filepath.Base(command[0]) != "bash" || command[1] != "-c" || len(args) != 1 {
		return false
	}
	return strings.HasPrefix(strings.TrimSpace(args[0]), connectServerScript)
}

// sparkDaemonDirs keeps Spark's daemon scripts (start-connect-server.sh) writing their
// logs and pid files under the pod's home, not into the shared environment or /tmp.
func sparkDaemonDirs(home string) map[string]string {
	return map[string]string{"SPARK_LOG_DIR": filepath.Join(home, "spark-logs"), "SPARK_PID_DIR": home}
}

// isSparkEntrypointCall says whether a container relies on the Spark image's entrypoint.
func isSparkEntrypointCall(command, args []string) bool {
	return len(command) == 0 && len(args) > 0 && (args[0] == "driver" || args[0] == "executor")
}

// sparkEntrypoint returns the command line the Spark image's entrypoint would run for
// args, with env the container's environment; apiServer is the cluster's loopback
// apiserver URL. It fails when a variable the role needs is missing.
func sparkEntrypoint(args []string, env map[string]string, sparkHome, apiServer string) ([]string, error) {
	need := func(names ...string) error {
		for _, n := range names {
			if env[n] == "" {
				return fmt.Errorf("the Spark %s needs %s in its environment (set by spark-submit)", args[0], n)
			}
		}
		return nil
	}
	switch args[0] {
	case "driver":
		if err := need("SPARK_DRIVER_BIND_ADDRESS"); err != nil {
			return nil, err
		}
		bind := env["SPARK_DRIVER_BIND_ADDRESS"]
		return append([]string{filepath.Join(sparkHome, "bin", "spark-submit"),
			"--conf", "spark.driver.bindAddress=" + bind,
			"--conf", "spark.executorEnv.SPARK_DRIVER_POD_IP=" + bind,
			"--conf", "spark.kubernetes.driver.master=" + apiServer,
			"--deploy-mode", "client"}, args[1:]...), nil
	case "executor":
		if err := need("SPARK_DRIVER_URL", "SPARK_EXECUTOR_ID", "SPARK_EXECUTOR_CORES", "SPARK_APPLICATION_ID",
			"SPARK_EXECUTOR_POD_IP", "SPARK_EXECUTOR_MEMORY"); err != nil {
			return nil, err
		}
		argv := []string{javaFor(env)}
		argv = append(argv, sparkJavaOpts(env)...)
		profile := env["SPARK_RESOURCE_PROFILE_ID"]
		if profile == "" {
			profile = "0"
		}
		argv = append(argv, "-Xms"+env["SPARK_EXECUTOR_MEMORY"], "-Xmx"+env["SPARK_EXECUTOR_MEMORY"],
			"-cp", sparkClasspath(env, sparkHome), sparkExecutorBackend,
			"--driver-url", env["SPARK_DRIVER_URL"],
			"--executor-id", env["SPARK_EXECUTOR_ID"],
			"--cores", env["SPARK_EXECUTOR_CORES"],
			"--app-id", env["SPARK_APPLICATION_ID"],
			"--hostname", env["SPARK_EXECUTOR_POD_IP"],
			"--resourceProfileId", profile)
		if name := env["SPARK_EXECUTOR_POD_NAME"]; name != "" {
			argv = append(argv, "--podName", name)
		}
		return argv, nil
	}
	return args, nil
}

// javaFor is the java program: JAVA_HOME's if set, else the one on PATH.
func javaFor(env map[string]string) string {
	if home := env["JAVA_HOME"]; home != "" {
		return filepath.Join(home, "bin", "java")
	}
	return "java"
}

// sparkJavaOpts are the executor's SPARK_JAVA_OPT_<n> variables, in the order of n.
func sparkJavaOpts(env map[string]string) []string {
	type opt struct {
		n     int
		value string
	}
	var opts []opt
	for k, v := range env {
		if rest, ok := strings.CutPrefix(k, "SPARK_JAVA_OPT_"); ok {
			n, err := strconv.Atoi(rest)
			if err != nil {
				n = 1 << 30
			}
			opts = append(opts, opt{n, v})
		}
	}
	sort.SliceStable(opts, func(i, j int) bool { return opts[i].n < opts[j].n })
	out := make([]string, 0, len(opts))
	for _, o := range opts {
		out = append(out, o.value)
	}
	return out
}

// sparkClasspath is the executor's class path: the configuration directory, any
// extra class path, then Spark's jars.
func sparkClasspath(env map[string]string, sparkHome string) string {
	conf := env["SPARK_CONF_DIR"]
	if conf == "" {
		conf = filepath.Join(sparkHome, "conf")
	}
	parts := []string{conf}
	for _, k := range []string{"SPARK_CLASSPATH", "SPARK_EXTRA_CLASSPATH", "SPARK_DIST_CLASSPATH"} {
		if env[k] != "" {
			parts = append(parts, env[k])
		}
	}
	parts = append(parts, filepath.Join(sparkHome, "jars", "*"))
	return strings.Join(parts, string(os.PathListSeparator))
}
