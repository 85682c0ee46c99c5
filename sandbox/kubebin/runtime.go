package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// podRuntime is one pod's life on this agent: its address, volumes, containers and
// the status it reports.
type podRuntime struct {
	agent     *Agent
	uid       types.UID
	namespace string
	name      string
	created   time.Time
	dir       string

	mu         sync.Mutex
	pod        *corev1.Pod
	ip         string
	phase      corev1.PodPhase
	reason     string
	message    string
	startTime  time.Time
	initDone   bool
	containers map[string]*containerRuntime
	order      []string // init containers first, then main containers

	ctx        context.Context
	cancel     context.CancelFunc
	done       chan struct{}
	stopOnce   sync.Once
	statusKick chan struct{}
}

func newPodRuntime(a *Agent, pod *corev1.Pod) *podRuntime {
	ctx, cancel := context.WithCancel(context.Background())
	rt := &podRuntime{
		agent: a, uid: pod.UID, namespace: pod.Namespace, name: pod.Name, created: time.Now(),
		dir: filepath.Join(a.cfg.StateDir, "pods", string(pod.UID)), pod: pod.DeepCopy(),
		phase: corev1.PodPending, containers: map[string]*containerRuntime{},
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
		statusKick: make(chan struct{}, 1),
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		rt.containers[c.Name] = newContainerRuntime(rt, c, true)
		rt.order = append(rt.order, c.Name)
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		rt.containers[c.Name] = newContainerRuntime(rt, c, false)
		rt.order = append(rt.order, c.Name)
	}
	return rt
}

func (rt *podRuntime) key() string { return rt.namespace + "/" + rt.name }

// run drives the pod from Pending to a terminal phase or until it is stopped.
func (rt *podRuntime) run() {
	defer close(rt.done)
	go rt.statusLoop()
	rt.kick()
	if err := rt.setup(); err != nil {
		rt.fail("SandboxSetupFailed", err.Error())
		return
	}
	for _, c := range rt.pod.Spec.InitContainers {
		if !rt.containers[c.Name].runToCompletion() {
			if rt.ctx.Err() == nil {
				rt.fail("InitContainerFailed", fmt.Sprintf("init container %s failed", c.Name))
			}
			return
		}
	}
	rt.mu.Lock()
	rt.initDone = true
	rt.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range rt.pod.Spec.Containers {
		wg.Add(1)
		go func(c *containerRuntime) { defer wg.Done(); c.supervise() }(rt.containers[c.Name])
	}
	wg.Wait()
	if rt.ctx.Err() != nil {
		return
	}
	phase := corev1.PodSucceeded
	for _, c := range rt.pod.Spec.Containers {
		if rt.containers[c.Name].exitCode() != 0 {
			phase = corev1.PodFailed
		}
	}
	rt.setPhase(phase, "", "")
}

// setup allocates the pod's address and name-resolution entry and prepares volumes,
// retrying while a referenced ConfigMap or Secret does not exist yet.
func (rt *podRuntime) setup() error {
	nodeIndex := rt.agent.nodes[rt.pod.Spec.NodeName]
	ip, err := rt.agent.ipam.allocate(nodeIndex, string(rt.uid))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(rt.dir, "logs"), 0o755); err != nil {
		return err
	}
	rt.mu.Lock()
	rt.ip, rt.startTime = ip, time.Now()
	rt.mu.Unlock()
	if err := rt.agent.hosts.addPod(rt.pod, ip); err != nil {
		return err
	}
	rt.kick()
	backoff := 500 * time.Millisecond
	for {
		volumes, err := rt.agent.prepareVolumes(rt.ctx, rt.pod, rt.dir)
		if err == nil {
			for _, c := range rt.containers {
				c.volumes = volumes
			}
			return nil
		}
		if rt.ctx.Err() != nil {
			return rt.ctx.Err()
		}
		for _, c := range rt.containers {
			c.setWaiting("CreateContainerConfigError", err.Error())
		}
		rt.agent.recorder.Event(rt.pod, corev1.EventTypeWarning, "FailedMount", err.Error())
		rt.kick()
		select {
		case <-rt.ctx.Done():
			return rt.ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// markRunning moves a Pending pod to Running once a main container has started.
func (rt *podRuntime) markRunning() {
	rt.mu.Lock()
	changed := rt.phase == corev1.PodPending
	if changed {
		rt.phase = corev1.PodRunning
	}
	rt.mu.Unlock()
	if changed {
		rt.kick()
	}
}

func (rt *podRuntime) setPhase(phase corev1.PodPhase, reason, message string) {
	rt.mu.Lock()
	rt.phase, rt.reason, rt.message = phase, reason, message
	rt.mu.Unlock()
	rt.kick()
}

func (rt *podRuntime) fail(reason, message string) {
	klog.InfoS("pod failed", "pod", rt.key(), "reason", reason, "message", message)
	rt.agent.recorder.Event(rt.pod, corev1.EventTypeWarning, reason, message)
	rt.setPhase(corev1.PodFailed, reason, message)
}

// requestStop begins a graceful stop (pod deletion) and calls after once every
// process is gone. Repeated requests are ignored.
func (rt *podRuntime) requestStop(grace time.Duration, after func()) {
	rt.stopOnce.Do(func() {
		go func() {
			rt.stop(grace)
			after()
		}()
	})
}

// stop terminates every container (SIGTERM, then SIGKILL after grace) and waits.
func (rt *podRuntime) stop(grace time.Duration) {
	rt.cancel()
	var wg sync.WaitGroup
	for _, c := range rt.containers {
		wg.Add(1)
		go func(c *containerRuntime) { defer wg.Done(); c.kill(grace) }(c)
	}
	wg.Wait()
	select {
	case <-rt.done:
	case <-time.After(grace + 5*time.Second):
	}
}

func (rt *podRuntime) removeFiles() {
	_ = os.RemoveAll(rt.dir)
}

// kick asks the status loop to publish the current state.
func (rt *podRuntime) kick() {
	select {
	case rt.statusKick <- struct{}{}:
	default:
	}
}
