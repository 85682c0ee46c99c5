package main

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// statusLoop publishes the pod status whenever something changed, coalescing bursts.
func (rt *podRuntime) statusLoop() {
	for {
		select {
		case <-rt.ctx.Done():
			return
		case <-rt.statusKick:
		}
		if err := rt.publishStatus(rt.ctx); err != nil && rt.ctx.Err() == nil {
			klog.ErrorS(err, "pod status update failed", "pod", rt.key())
			time.Sleep(200 * time.Millisecond)
			rt.kick()
		}
	}
}

func (rt *podRuntime) publishStatus(ctx context.Context) error {
	pods := rt.agent.client.CoreV1().Pods(rt.namespace)
	for attempt := 0; attempt < 5; attempt++ {
		current, err := pods.Get(ctx, rt.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if current.UID != rt.uid {
			return nil
		}
		current.Status = rt.buildStatus(current.Status)
		_, err = pods.UpdateStatus(ctx, current, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}

// buildStatus renders the runtime's state as a PodStatus, keeping fields that other
// components own (conditions the scheduler set, nominated node).
func (rt *podRuntime) buildStatus(prev corev1.PodStatus) corev1.PodStatus {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	st := corev1.PodStatus{
		Phase:             rt.phase,
		Reason:            rt.reason,
		Message:           rt.message,
		HostIP:            rt.agent.cfg.NodeAddress,
		HostIPs:           []corev1.HostIP{{IP: rt.agent.cfg.NodeAddress}},
		QOSClass:          prev.QOSClass,
		NominatedNodeName: prev.NominatedNodeName,
	}
	if rt.ip != "" {
		st.PodIP = rt.ip
		st.PodIPs = []corev1.PodIP{{IP: rt.ip}}
	}
	if !rt.startTime.IsZero() {
		t := metav1.NewTime(rt.startTime)
		st.StartTime = &t
	}
	allReady := rt.phase == corev1.PodRunning
	for _, name := range rt.order {
		c := rt.containers[name]
		cs := c.status()
		if c.init {
			st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
			continue
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		allReady = allReady && cs.Ready
	}
	now := metav1.Now()
	cond := func(kind corev1.PodConditionType, ok bool) corev1.PodCondition {
		status := corev1.ConditionFalse
		if ok {
			status = corev1.ConditionTrue
		}
		for _, old := range prev.Conditions {
			if old.Type == kind && old.Status == status {
				return old
			}
		}
		return corev1.PodCondition{Type: kind, Status: status, LastTransitionTime: now}
	}
	terminal := rt.phase == corev1.PodSucceeded || rt.phase == corev1.PodFailed
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, rt.ip != "" && !terminal),
		cond(corev1.PodInitialized, rt.initDone),
		cond(corev1.ContainersReady, allReady),
		cond(corev1.PodReady, allReady),
		cond(corev1.PodScheduled, true),
	}
	return st
}
