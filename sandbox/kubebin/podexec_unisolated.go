package main

import (
	"os"
	"sort"
	"strings"
)

// Unisolated pods: when the node agent does not run as root (a Binder container, a
// user's laptop) it cannot give a pod its own mount and UTS namespaces. The pod then
// runs as a plain process of the agent's user, and what is degraded is exactly this:
//   - volumes are not mounted at their mountPath; instead every occurrence of a mount
//     path in the command, its arguments, its environment and its working directory is
//     rewritten to the volume's directory on the host (a program that hard-codes a
//     mount path in its own code does not find it);
//   - the per-namespace hosts file is not installed: pod and service names do not
//     resolve, so jobs that rendezvous by name (multi-node torchrun, Spark) fail;
//     single-process jobs and notebook servers work;
//   - the pod's hostname is the machine's (HOSTNAME in the environment is the pod's);
//   - /dev/shm is the machine's, shared by all pods.
// Pod IPs, the bind shim, logs, status and port-forwarding work as when isolated.

// canIsolate says whether pods get their own mount and UTS namespaces (root only).
func canIsolate() bool {
	return os.Geteuid() == 0 && os.Getenv("FEDSANDBOX_UNISOLATED") == ""
}

// unisolate rewrites the spec's mount paths to the volumes' host directories.
func unisolate(spec *execSpec) {
	mounts := make([]execMount, 0, len(spec.Mounts))
	for _, m := range spec.Mounts {
		if m.Target != "/dev/shm" && m.Target != "/" {
			mounts = append(mounts, m)
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].Target) > len(mounts[j].Target) })
	for i, arg := range spec.Argv {
		spec.Argv[i] = rewritePaths(arg, mounts)
	}
	for i, kv := range spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		spec.Env[i] = k + "=" + rewritePaths(v, mounts)
	}
	spec.Cwd = rewritePaths(spec.Cwd, mounts)
	spec.Mounts, spec.HostsFile, spec.Hostname = nil, "", ""
}

// rewritePaths replaces each mount path that stands as a whole path (or a path's
// first components) in s with the volume's source directory.
func rewritePaths(s string, mounts []execMount) string {
	for _, m := range mounts {
		var out strings.Builder
		rest := s
		for {
			i := strings.Index(rest, m.Target)
			if i < 0 {
				out.WriteString(rest)
				break
			}
			end := i + len(m.Target)
			startOK := i == 0 || strings.ContainsRune(" :=\"'", rune(rest[i-1]))
			endOK := end == len(rest) || strings.ContainsRune("/ :\"'", rune(rest[end]))
			out.WriteString(rest[:i])
			if startOK && endOK {
				out.WriteString(m.Source)
			} else {
				out.WriteString(m.Target)
			}
			rest = rest[end:]
		}
		s = out.String()
	}
	return s
}
