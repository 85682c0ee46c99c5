package main

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeReadiness runs the container's readiness probe against the pod address
// until the container exits, updating its Ready state as the kubelet does: ready
// after successThreshold passes in a row, unready after failureThreshold failures
// in a row, so one slow answer on a loaded machine does not take a pod out of its
// Services.
func (c *containerRuntime) probeReadiness(exited <-chan struct{}) {
	p := c.spec.ReadinessProbe
	period := time.Duration(max(p.PeriodSeconds, 1)) * time.Second
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	select {
	case <-exited:
		return
	case <-time.After(time.Duration(p.InitialDelaySeconds) * time.Second):
	}
	// Probe quickly until first ready: startup latency matters more than load here.
	interval := 100 * time.Millisecond
	var streak readinessStreak
	for {
		c.mu.Lock()
		wasReady := c.ready
		c.mu.Unlock()
		ready := streak.observe(p, wasReady, c.probeOnce(p, timeout) == nil)
		c.mu.Lock()
		changed := c.ready != ready && c.state.Running != nil
		if changed {
			c.ready = ready
		}
		c.mu.Unlock()
		if changed {
			c.pod.kick()
		}
		if ready {
			interval = period
		}
		select {
		case <-exited:
			return
		case <-time.After(interval):
		}
	}
}

// readinessStreak counts consecutive probe results of one kind.
type readinessStreak struct {
	passed bool
	count  int32
}

// observe records one probe result and returns whether the container is ready now,
// given whether it was before and the probe's thresholds (defaults 1 and 3, as in Kubernetes).
func (s *readinessStreak) observe(p *corev1.Probe, wasReady, passed bool) bool {
	if passed != s.passed {
		s.passed, s.count = passed, 0
	}
	s.count++
	if passed {
		return wasReady || s.count >= max(p.SuccessThreshold, 1)
	}
	threshold := p.FailureThreshold
	if threshold <= 0 {
		threshold = 3
	}
	return wasReady && s.count < threshold
}

func (c *containerRuntime) probeOnce(p *corev1.Probe, timeout time.Duration) error {
	c.pod.mu.Lock()
	ip := c.pod.ip
	c.pod.mu.Unlock()
	switch {
	case p.HTTPGet != nil:
		port, err := c.resolvePort(p.HTTPGet.Port)
		if err != nil {
			return err
		}
		client := http.Client{Timeout: timeout}
		resp, err := client.Get(fmt.Sprintf("http://%s%s", net.JoinHostPort(ip, strconv.Itoa(port)), p.HTTPGet.Path))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe returned %d", resp.StatusCode)
		}
		return nil
	case p.TCPSocket != nil:
		port, err := c.resolvePort(p.TCPSocket.Port)
		if err != nil {
			return err
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip, strconv.Itoa(port)), timeout)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return nil // exec and gRPC probes count as passing in the sandbox
}

func (c *containerRuntime) resolvePort(port intstr.IntOrString) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, p := range c.spec.Ports {
		if p.Name == port.StrVal {
			return int(p.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.spec.Name, port.StrVal)
}
