package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// runPodExec is the `pod-exec` helper. The agent starts it in new mount and UTS
// namespaces; it bind-mounts the container's volumes and hosts file, sets the pod's
// hostname, then replaces itself with the container's command.
func runPodExec(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: kubebin pod-exec SPEC.json")
		return 2
	}
	raw, err := os.ReadFile(args[0])
	if err != nil {
		return execFail("reading exec spec", err)
	}
	var spec execSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return execFail("parsing exec spec", err)
	}
	if spec.Unisolated {
		unisolate(&spec)
	} else if what, err := setUpNamespaces(&spec); err != nil {
		return execFail(what, err)
	}
	if err := os.MkdirAll(spec.Cwd, 0o755); err != nil {
		return execFail("creating working directory", err)
	}
	if err := os.Chdir(spec.Cwd); err != nil {
		return execFail("entering working directory", err)
	}
	for _, kv := range spec.Env {
		if path, ok := strings.CutPrefix(kv, "PATH="); ok {
			_ = os.Setenv("PATH", path)
		}
	}
	program, err := exec.LookPath(spec.Argv[0])
	if err != nil {
		return execFail(fmt.Sprintf("%q not found in the container's environment (PATH=%s)", spec.Argv[0], os.Getenv("PATH")), err)
	}
	err = syscall.Exec(program, spec.Argv, spec.Env)
	return execFail("starting "+program, err)
}

// setUpNamespaces, in the pod's fresh mount and UTS namespaces, mounts its volumes and
// hosts file and sets its hostname; on failure it says which step failed.
func setUpNamespaces(spec *execSpec) (string, error) {
	// Mounts made here must never propagate back to the host.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return "making mounts private", err
	}
	if spec.HostsFile != "" {
		spec.Mounts = append(spec.Mounts, execMount{Source: spec.HostsFile, Target: "/etc/hosts", ReadOnly: true})
	}
	for _, m := range spec.Mounts {
		if err := bindMount(m); err != nil {
			return "mounting " + m.Target, err
		}
	}
	if spec.Hostname != "" {
		if err := syscall.Sethostname([]byte(spec.Hostname)); err != nil {
			return "setting hostname", err
		}
	}
	return "", nil
}

func bindMount(m execMount) error {
	info, err := os.Stat(m.Source)
	if err != nil {
		return err
	}
	if info.IsDir() {
		if err := os.MkdirAll(m.Target, 0o755); err != nil {
			return err
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(m.Target), 0o755); err != nil {
			return err
		}
		if _, err := os.Stat(m.Target); os.IsNotExist(err) {
			if f, err := os.Create(m.Target); err == nil {
				f.Close()
			}
		}
	}
	if err := syscall.Mount(m.Source, m.Target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return err
	}
	if m.ReadOnly {
		return syscall.Mount("", m.Target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY|syscall.MS_REC, "")
	}
	return nil
}

// execFail reports why the container could not start; 127/128 like a shell would.
func execFail(what string, err error) int {
	fmt.Fprintf(os.Stderr, "sandbox: %s: %v\n", what, err)
	if strings.Contains(what, "not found") {
		return 127
	}
	return 128
}
