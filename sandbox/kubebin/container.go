package main

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// containerRuntime runs one container's command as a local process and remembers
// the state the kubelet would report for it.
type containerRuntime struct {
	pod     *podRuntime
	spec    *corev1.Container
	init    bool
	volumes map[string]string // volume name -> host directory

	mu        sync.Mutex
	state     corev1.ContainerState
	lastState corev1.ContainerState
	restarts  int32
	ready     bool
	cmd       *exec.Cmd
	exited    chan struct{}
	logs      *containerLogs
}

func newContainerRuntime(rt *podRuntime, spec *corev1.Container, init bool) *containerRuntime {
	c := &containerRuntime{pod: rt, spec: spec, init: init,
		logs: newContainerLogs(filepath.Join(rt.dir, "logs", spec.Name))}
	c.state.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	if init {
		c.state.Waiting.Reason = "PodInitializing"
	}
	return c
}

func (c *containerRuntime) setWaiting(reason, message string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}
}

// runToCompletion runs an init container until it succeeds, honouring the pod's
// restart policy; it reports whether the pod may go on.
func (c *containerRuntime) runToCompletion() bool {
	backoff := time.Second
	for {
		code, err := c.runOnce()
		if err == nil && code == 0 {
			return true
		}
		if c.pod.ctx.Err() != nil || c.pod.pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			return false
		}
		if !c.backoff(backoff) {
			return false
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// supervise runs a main container, restarting it as the pod's restart policy says.
func (c *containerRuntime) supervise() {
	backoff := time.Second
	for {
		code, err := c.runOnce()
		if c.pod.ctx.Err() != nil {
			return
		}
		var pullErr *imageError
		if errors.As(err, &pullErr) { // image problems are retried whatever the restart policy
			if !c.backoff(backoff) {
				return
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		policy := c.pod.pod.Spec.RestartPolicy
		if policy == corev1.RestartPolicyNever || (policy == corev1.RestartPolicyOnFailure && err == nil && code == 0) {
			return
		}
		if !c.backoff(backoff) {
			return
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (c *containerRuntime) backoff(d time.Duration) bool {
	c.mu.Lock()
	if c.state.Waiting != nil && c.state.Waiting.Reason == "ErrImagePull" {
		// Never started: an image back-off, not a restart.
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff",
			Message: fmt.Sprintf("Back-off pulling image %q", c.spec.Image)}}
		c.mu.Unlock()
		c.pod.kick()
		return c.sleep(d)
	}
	c.lastState, c.restarts = c.state, c.restarts+1
	c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
		Message: fmt.Sprintf("back-off %s restarting failed container %s", d, c.spec.Name)}}
	c.mu.Unlock()
	c.pod.agent.recorder.Eventf(c.pod.pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s", c.spec.Name)
	c.pod.kick()
	return c.sleep(d)
}

func (c *containerRuntime) sleep(d time.Duration) bool {
	select {
	case <-c.pod.ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// runOnce starts the process, waits for it and records how it ended.
func (c *containerRuntime) runOnce() (int, error) {
	rec := c.pod.agent.recorder
	cmd, err := c.pod.agent.buildCommand(c)
	var pullErr *imageError
	if errors.As(err, &pullErr) {
		c.setWaiting("ErrImagePull", err.Error())
		rec.Event(c.pod.pod, corev1.EventTypeWarning, "Failed", err.Error())
		c.pod.kick()
		return 128, err
	}
	if err != nil {
		c.terminate(128, "StartError", err.Error())
		rec.Event(c.pod.pod, corev1.EventTypeWarning, "Failed", err.Error())
		return 128, err
	}
	rec.Eventf(c.pod.pod, corev1.EventTypeNormal, "Pulled", "Container image %q recorded; the sandbox runs it from a local environment", c.spec.Image)
	stdout, stderr, err := c.logs.open(c.restarts)
	if err != nil {
		c.terminate(128, "StartError", err.Error())
		return 128, err
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	c.mu.Lock()
	if c.pod.ctx.Err() != nil {
		c.mu.Unlock()
		c.logs.close()
		return 137, c.pod.ctx.Err()
	}
	err = cmd.Start()
	if err == nil {
		c.cmd, c.exited = cmd, make(chan struct{})
		c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
		c.ready = c.spec.ReadinessProbe == nil
	}
	c.mu.Unlock()
	if err != nil {
		c.logs.close()
		c.terminate(128, "StartError", err.Error())
		rec.Event(c.pod.pod, corev1.EventTypeWarning, "Failed", err.Error())
		return 128, err
	}
	klog.V(2).InfoS("container started", "pod", c.pod.key(), "container", c.spec.Name, "pid", cmd.Process.Pid)
	if !c.init {
		c.pod.markRunning()
	}
	rec.Eventf(c.pod.pod, corev1.EventTypeNormal, "Started", "Started container %s", c.spec.Name)
	c.pod.kick()
	if c.spec.ReadinessProbe != nil {
		go c.probeReadiness(c.exited)
	}
	waitErr := cmd.Wait()
	c.logs.close()
	code := exitCode(cmd, waitErr)
	c.mu.Lock()
	close(c.exited)
	c.cmd = nil
	c.mu.Unlock()
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	c.terminate(int32(code), reason, "")
	return code, nil
}

func exitCode(cmd *exec.Cmd, err error) int {
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return 128
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

func (c *containerRuntime) terminate(code int32, reason, message string) {
	c.mu.Lock()
	started := metav1.Now()
	if c.state.Running != nil {
		started = c.state.Running.StartedAt
	}
	c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: code, Reason: reason, Message: message, StartedAt: started, FinishedAt: metav1.Now()}}
	c.ready = false
	c.mu.Unlock()
	c.pod.kick()
}

func (c *containerRuntime) restartCount() int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restarts
}

func (c *containerRuntime) exitCode() int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Terminated != nil {
		return c.state.Terminated.ExitCode
	}
	return -1
}

// kill sends SIGTERM to the container's process group, then SIGKILL after grace.
func (c *containerRuntime) kill(grace time.Duration) {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
	}
	// Children that outlived the main process go too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-exited
}

func (c *containerRuntime) status() corev1.ContainerStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	started := c.state.Running != nil
	return corev1.ContainerStatus{
		Name:                 c.spec.Name,
		State:                c.state,
		LastTerminationState: c.lastState,
		Ready:                c.ready,
		RestartCount:         c.restarts,
		Image:                c.spec.Image,
		ImageID:              "sandbox://" + c.spec.Image,
		ContainerID:          fmt.Sprintf("sandbox://%s/%s/%d", c.pod.uid, c.spec.Name, c.restarts),
		Started:              &started,
	}
}
