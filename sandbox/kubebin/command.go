package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// imageError stands for a failed image pull: no local environment stands in for it.
type imageError struct{ image string }

func (e *imageError) Error() string {
	return fmt.Sprintf("Failed to pull image %q: ErrImagePull: the sandbox has no local environment for it "+
		"(add it to the topology's environments)", e.image)
}

// execSpec is what the pod-exec helper needs to enter a container's view of the world.
type execSpec struct {
	Argv      []string    `json:"argv"`
	Env       []string    `json:"env"`
	Cwd       string      `json:"cwd"`
	Hostname  string      `json:"hostname"`
	Mounts    []execMount `json:"mounts"`
	HostsFile string      `json:"hostsFile"`
	// Unisolated: no mount or UTS namespace (the agent is not root); see podexec_unisolated.go.
	Unisolated bool `json:"unisolated,omitempty"`
}

type execMount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly"`
}

const basePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// buildCommand prepares the process for one container run: the pod-exec helper in
// fresh mount and UTS namespaces, which mounts volumes and then execs the command.
func (a *Agent) buildCommand(c *containerRuntime) (*exec.Cmd, error) {
	rt, spec := c.pod, c.spec
	bin := a.cfg.binFor(spec.Image)
	if bin == "" {
		return nil, &imageError{image: spec.Image}
	}
	rt.mu.Lock()
	ip := rt.ip
	rt.mu.Unlock()
	env, err := a.containerEnv(rt.ctx, rt.pod, spec, ip)
	if err != nil {
		return nil, err
	}
	lookup := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		lookup[k] = v
	}
	argv := append(append([]string{}, spec.Command...), spec.Args...)
	if len(argv) == 0 {
		return nil, fmt.Errorf("container %s has no command or args: the sandbox cannot run an image's default entrypoint", spec.Name)
	}
	for i := range argv {
		argv[i] = expandVars(argv[i], lookup)
	}
	sparkHome := ""
	if isSparkConnectServerCall(spec.Command, spec.Args) {
		if sparkHome = sparkHomeFor(bin); sparkHome == "" {
			return nil, fmt.Errorf("container %s starts Spark's Connect server, but the environment standing in for %s "+
				"has no PySpark: map the image to one that has (the workload environment)", spec.Name, spec.Image)
		}
	} else if isSparkEntrypointCall(spec.Command, spec.Args) {
		if sparkHome = sparkHomeFor(bin); sparkHome == "" {
			return nil, fmt.Errorf("container %s relies on the Spark image's entrypoint (args %q), but the environment "+
				"standing in for %s has no PySpark: map the image to one that has (the workload environment)",
				spec.Name, argv[0], spec.Image)
		}
		apiServer := "https://" + net.JoinHostPort(a.cfg.APIServerHost, strconv.Itoa(a.cfg.APIServerPort))
		if argv, err = sparkEntrypoint(argv, lookup, sparkHome, apiServer); err != nil {
			return nil, fmt.Errorf("container %s: %w", spec.Name, err)
		}
	}
	home := filepath.Join(rt.dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, err
	}
	env = withDefaults(env, map[string]string{"HOME": home})
	env = prependPath(env, bin)
	if sparkHome != "" { // the image's SPARK_HOME (/opt/spark) is this environment's PySpark
		env = append(withoutVar(env, "SPARK_HOME"), "SPARK_HOME="+sparkHome)
		// Spark's own address: the pod's, else it picks the machine's interface for its loopback host name.
		env = withDefaults(env, map[string]string{"SPARK_LOCAL_IP": ip})
		env = withDefaults(env, sparkDaemonDirs(home))
	}
	env = append(env,
		"LD_PRELOAD="+a.cfg.Preload,
		"FEDSANDBOX_POD_IP="+ip,
		"FEDSANDBOX_STATE="+a.cfg.StateDir,
		"JAVA_TOOL_OPTIONS=-Djava.net.preferIPv4Stack=true",
		"JUPYTER_CONFIG_PATH="+filepath.Join(a.cfg.StateDir, "jupyter-config"),
	)
	hosts, err := a.hosts.ensure(rt.namespace)
	if err != nil {
		return nil, err
	}
	hostname := rt.pod.Spec.Hostname
	if hostname == "" {
		hostname = rt.pod.Name
	}
	es := execSpec{Argv: argv, Env: env, Cwd: spec.WorkingDir, Hostname: hostname, HostsFile: hosts,
		Unisolated: !canIsolate()}
	if es.Cwd == "" {
		es.Cwd = home
	}
	for _, m := range spec.VolumeMounts {
		src, ok := c.volumes[m.Name]
		if !ok {
			return nil, fmt.Errorf("container %s mounts unknown volume %q", spec.Name, m.Name)
		}
		es.Mounts = append(es.Mounts, execMount{Source: filepath.Join(src, m.SubPath), Target: m.MountPath, ReadOnly: m.ReadOnly})
	}
	specFile := filepath.Join(rt.dir, fmt.Sprintf("exec-%s-%d.json", spec.Name, c.restarts))
	raw, _ := json.Marshal(es)
	if err := os.WriteFile(specFile, raw, 0o600); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "pod-exec", specFile)
	cmd.Env = []string{"PATH=" + basePath}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS,
		Pdeathsig:  syscall.SIGKILL,
	}
	if es.Unisolated {
		cmd.SysProcAttr.Cloneflags = 0
	}
	cmd.WaitDelay = 2 * time.Second
	return cmd, nil
}

// containerEnv resolves env and envFrom as the kubelet does, plus the service
// variables that point in-cluster clients at this cluster's apiserver.
func (a *Agent) containerEnv(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, ip string) ([]string, error) {
	values := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, seen := values[k]; !seen {
			order = append(order, k)
		}
		values[k] = v
	}
	set("PATH", basePath)
	set("HOSTNAME", pod.Name)
	for _, kv := range serviceLinkEnv(pod, a.services) {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	set("KUBERNETES_SERVICE_HOST", a.cfg.APIServerHost)
	set("KUBERNETES_SERVICE_PORT", strconv.Itoa(a.cfg.APIServerPort))
	for _, from := range spec.EnvFrom {
		var data map[string]string
		switch {
		case from.ConfigMapRef != nil:
			cm, err := a.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil && !ptr.Deref(from.ConfigMapRef.Optional, false) {
				return nil, fmt.Errorf("envFrom configmap %q: %w", from.ConfigMapRef.Name, err)
			}
			if cm != nil {
				data = cm.Data
			}
		case from.SecretRef != nil:
			secret, err := a.client.CoreV1().Secrets(pod.Namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil && !ptr.Deref(from.SecretRef.Optional, false) {
				return nil, fmt.Errorf("envFrom secret %q: %w", from.SecretRef.Name, err)
			}
			data = map[string]string{}
			if secret != nil {
				for k, v := range secret.Data {
					data[k] = string(v)
				}
			}
		}
		for k, v := range data {
			set(from.Prefix+k, v)
		}
	}
	for _, e := range spec.Env {
		value, err := a.envValue(ctx, pod, spec, e, ip)
		if err != nil {
			return nil, err
		}
		set(e.Name, expandVars(value, values))
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+values[k])
	}
	return out, nil
}

func (a *Agent) envValue(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, e corev1.EnvVar, ip string) (string, error) {
	from := e.ValueFrom
	switch {
	case from == nil:
		return e.Value, nil
	case from.FieldRef != nil:
		return podField(pod, from.FieldRef.FieldPath, ip)
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := a.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if ptr.Deref(ref.Optional, false) {
				return "", nil
			}
			return "", fmt.Errorf("env %s: configmap %q: %w", e.Name, ref.Name, err)
		}
		return cm.Data[ref.Key], nil
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		secret, err := a.client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if ptr.Deref(ref.Optional, false) {
				return "", nil
			}
			return "", fmt.Errorf("env %s: secret %q: %w", e.Name, ref.Name, err)
		}
		return string(secret.Data[ref.Key]), nil
	case from.ResourceFieldRef != nil:
		ref := from.ResourceFieldRef
		list := spec.Resources.Limits
		if strings.HasPrefix(ref.Resource, "requests.") {
			list = spec.Resources.Requests
		}
		name := corev1.ResourceName(strings.TrimPrefix(strings.TrimPrefix(ref.Resource, "limits."), "requests."))
		if q, ok := list[name]; ok {
			return q.String(), nil
		}
		return "0", nil
	}
	return "", nil
}

// expandVars replaces $(NAME) with known values; $$ escapes, unknown refs stay.
func expandVars(s string, values map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i:], ')')
			if end < 0 {
				b.WriteByte(s[i])
				continue
			}
			name := s[i+2 : i+end]
			if v, ok := values[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+end+1])
			}
			i += end
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func withDefaults(env []string, defaults map[string]string) []string {
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		delete(defaults, k)
	}
	for k, v := range defaults {
		env = append(env, k+"="+v)
	}
	return env
}

// withoutVar drops the variable name from env.
func withoutVar(env []string, name string) []string {
	out := env[:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// prependPath puts the environment standing in for the image first on PATH.
func prependPath(env []string, bin string) []string {
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			env[i] = "PATH=" + bin + ":" + v
			return env
		}
	}
	return append(env, "PATH="+bin+":"+basePath)
}
