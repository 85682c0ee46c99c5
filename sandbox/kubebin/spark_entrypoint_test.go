package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSparkDriverRunsSparkSubmitInClientModeOnThePodAddress(t *testing.T) {
	args := []string{"driver", "--properties-file", "/opt/spark/conf/spark.properties", "--class",
		"org.apache.spark.deploy.PythonRunner", "local:///app/main.py"}
	got, err := sparkEntrypoint(args, map[string]string{"SPARK_DRIVER_BIND_ADDRESS": "127.101.1.5"},
		"/env/pyspark", "https://127.0.0.1:16400")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/env/pyspark/bin/spark-submit",
		"--conf", "spark.driver.bindAddress=127.101.1.5",
		"--conf", "spark.executorEnv.SPARK_DRIVER_POD_IP=127.101.1.5",
		"--conf", "spark.kubernetes.driver.master=https://127.0.0.1:16400",
		"--deploy-mode", "client",
		"--properties-file", "/opt/spark/conf/spark.properties", "--class",
		"org.apache.spark.deploy.PythonRunner", "local:///app/main.py"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("driver command\n got %q\nwant %q", got, want)
	}
}

func TestSparkExecutorRunsTheKubernetesExecutorBackend(t *testing.T) {
	env := map[string]string{
		"SPARK_DRIVER_URL": "spark://CoarseGrainedScheduler@app-driver-svc.ns.svc:7078", "SPARK_EXECUTOR_ID": "2",
		"SPARK_EXECUTOR_CORES": "1", "SPARK_APPLICATION_ID": "spark-1", "SPARK_EXECUTOR_POD_IP": "127.101.1.7",
		"SPARK_EXECUTOR_MEMORY": "921m", "SPARK_EXECUTOR_POD_NAME": "app-exec-2", "SPARK_RESOURCE_PROFILE_ID": "0",
		"SPARK_CONF_DIR": "/opt/spark/conf", "SPARK_JAVA_OPT_10": "-Dten", "SPARK_JAVA_OPT_0": "-Dzero",
		"SPARK_JAVA_OPT_2": "-Dtwo",
	}
	got, err := sparkEntrypoint([]string{"executor"}, env, "/env/pyspark", "https://127.0.0.1:16400")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"java", "-Dzero", "-Dtwo", "-Dten", "-Xms921m", "-Xmx921m",
		"-cp", "/opt/spark/conf:/env/pyspark/jars/*", sparkExecutorBackend,
		"--driver-url", "spark://CoarseGrainedScheduler@app-driver-svc.ns.svc:7078", "--executor-id", "2",
		"--cores", "1", "--app-id", "spark-1", "--hostname", "127.101.1.7", "--resourceProfileId", "0",
		"--podName", "app-exec-2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("executor command\n got %q\nwant %q", got, want)
	}
}

func TestASparkRoleWithoutItsVariablesSaysWhichIsMissing(t *testing.T) {
	_, err := sparkEntrypoint([]string{"executor"}, map[string]string{}, "/env/pyspark", "https://127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "SPARK_DRIVER_URL") {
		t.Fatalf("want an error naming SPARK_DRIVER_URL, got %v", err)
	}
}

func TestOnlyContainersWithoutACommandUseTheSparkEntrypoint(t *testing.T) {
	if !isSparkEntrypointCall(nil, []string{"driver", "--class", "x"}) || !isSparkEntrypointCall(nil, []string{"executor"}) {
		t.Fatal("driver and executor args without a command use the entrypoint")
	}
	if isSparkEntrypointCall([]string{"python3"}, []string{"driver"}) || isSparkEntrypointCall(nil, []string{"python3"}) {
		t.Fatal("a command, or other args, run as given")
	}
}

func TestSparkHomeIsTheEnvironmentsPySpark(t *testing.T) {
	env := t.TempDir()
	if sparkHomeFor(filepath.Join(env, "bin")) != "" {
		t.Fatal("an environment without PySpark has no Spark home")
	}
	bin := filepath.Join(env, "lib", "python3.11", "site-packages", "pyspark", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "spark-submit"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := sparkHomeFor(filepath.Join(env, "bin")); got != filepath.Dir(bin) {
		t.Fatalf("spark home %q, want %q", got, filepath.Dir(bin))
	}
}

func TestSparkConnectServerOfTheOperatorIsRecognised(t *testing.T) {
	script := "${SPARK_HOME}/sbin/start-connect-server.sh --master k8s://https://127.0.0.1:16400 --conf a=b"
	cases := []struct {
		command, args []string
		want          bool
	}{
		{[]string{"bash", "-c"}, []string{script}, true},
		{[]string{"/bin/bash", "-c"}, []string{script}, true},
		{[]string{"bash", "-c"}, []string{"echo hi"}, false},
		{[]string{"sh", "-c"}, []string{script}, false},
		{nil, []string{"driver"}, false},
		{[]string{"bash", "-c"}, []string{script, "extra"}, false},
	}
	for _, c := range cases {
		if got := isSparkConnectServerCall(c.command, c.args); got != c.want {
			t.Errorf("isSparkConnectServerCall(%q, %q) = %v, want %v", c.command, c.args, got, c.want)
		}
	}
	dirs := sparkDaemonDirs("/pods/p1/home")
	if dirs["SPARK_LOG_DIR"] != "/pods/p1/home/spark-logs" || dirs["SPARK_PID_DIR"] != "/pods/p1/home" {
		t.Fatalf("daemon dirs %v", dirs)
	}
}
