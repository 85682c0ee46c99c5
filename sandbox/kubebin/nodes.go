package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

const leaseSeconds = 40

// registerNodes creates (or refreshes) every configured Node with its labels, taints,
// capacity, address and kubelet endpoint, then marks it Ready.
func (a *Agent) registerNodes(ctx context.Context) error {
	_, portText, err := net.SplitHostPort(a.cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("listenAddress %q: %w", a.cfg.ListenAddress, err)
	}
	port, _ := strconv.Atoi(portText)
	for _, spec := range a.cfg.Nodes {
		node, err := a.desiredNode(spec)
		if err != nil {
			return err
		}
		existing, err := a.client.CoreV1().Nodes().Get(ctx, spec.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			existing, err = a.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		case err == nil:
			existing.Labels, existing.Annotations, existing.Spec.Taints = node.Labels, node.Annotations, node.Spec.Taints
			existing, err = a.client.CoreV1().Nodes().Update(ctx, existing, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("register node %s: %w", spec.Name, err)
		}
		existing.Status = node.Status
		existing.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
		existing.Status.Conditions = nodeConditions(time.Now())
		if _, err := a.client.CoreV1().Nodes().UpdateStatus(ctx, existing, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("node %s status: %w", spec.Name, err)
		}
	}
	return nil
}

func (a *Agent) desiredNode(spec NodeSpec) (*corev1.Node, error) {
	capacity := corev1.ResourceList{}
	for name, qty := range spec.Capacity {
		q, err := resource.ParseQuantity(qty)
		if err != nil {
			return nil, fmt.Errorf("node %s capacity %s=%q: %w", spec.Name, name, qty, err)
		}
		capacity[corev1.ResourceName(name)] = q
	}
	if _, ok := capacity[corev1.ResourcePods]; !ok {
		capacity[corev1.ResourcePods] = resource.MustParse("110")
	}
	labels := map[string]string{
		"kubernetes.io/hostname": spec.Name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
		"fedspawner.dev/sandbox": "agent",
	}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	var taints []corev1.Taint
	for _, t := range spec.Taints {
		taints = append(taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Labels: labels, Annotations: spec.Annotations},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity,
			Phase:       corev1.NodeRunning,
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: a.cfg.NodeAddress},
				{Type: corev1.NodeHostName, Address: spec.Name},
			},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:          "v1.34.4-fedspawner-sandbox",
				OperatingSystem:         "linux",
				Architecture:            "amd64",
				ContainerRuntimeVersion: "fedspawner-agent://1",
				OSImage:                 "fedspawner sandbox node agent",
			},
		},
	}, nil
}

func nodeConditions(now time.Time) []corev1.NodeCondition {
	t := metav1.NewTime(now)
	cond := func(kind corev1.NodeConditionType, status corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: kind, Status: status, Reason: reason, Message: msg, LastHeartbeatTime: t, LastTransitionTime: t}
	}
	return []corev1.NodeCondition{
		cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "sandbox node agent is posting ready status"),
		cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "sufficient memory"),
		cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "no disk pressure"),
		cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "sufficient PIDs"),
	}
}

// heartbeat renews each node's Lease and posts its conditions, as the kubelet does. Each
// call has its own deadline, so an apiserver that stops answering (paused, say) cannot
// hold the loop: renewals resume on the first tick after it answers again, and a node
// the controller marked Unknown meanwhile is posted Ready again (which lifts the
// node.kubernetes.io/unreachable taints).
func (a *Agent) heartbeat(ctx context.Context) {
	every := time.Duration(a.cfg.HeartbeatEvery) * time.Second
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		for _, spec := range a.cfg.Nodes {
			call, cancel := context.WithTimeout(ctx, every)
			if err := a.renewLease(call, spec.Name); err != nil && ctx.Err() == nil {
				klog.ErrorS(err, "lease renewal failed", "node", spec.Name)
			}
			if err := a.postNodeStatus(call, spec.Name); err != nil && ctx.Err() == nil {
				klog.ErrorS(err, "node status heartbeat failed", "node", spec.Name)
			}
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (a *Agent) renewLease(ctx context.Context, node string) error {
	leases := a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: node},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(node),
				LeaseDurationSeconds: ptr.To[int32](leaseSeconds),
				RenewTime:            &now,
			},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.RenewTime = &now
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

// postNodeStatus posts the node's conditions as the agent sees them (Ready, no pressure),
// whatever the node controller wrote meanwhile.
func (a *Agent) postNodeStatus(ctx context.Context, name string) error {
	node, err := a.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	node.Status.Conditions = refreshedConditions(node.Status.Conditions, time.Now())
	_, err = a.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

// refreshedConditions is the agent's own conditions with a fresh heartbeat; a condition
// whose status is unchanged keeps its transition time, one the node controller changed
// (Ready=Unknown after missed heartbeats) transitions back now. Others are kept as they are.
func refreshedConditions(existing []corev1.NodeCondition, now time.Time) []corev1.NodeCondition {
	out := nodeConditions(now)
	for i := range out {
		for _, old := range existing {
			if old.Type == out[i].Type && old.Status == out[i].Status && !old.LastTransitionTime.IsZero() {
				out[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	for _, old := range existing {
		known := false
		for _, c := range out {
			known = known || c.Type == old.Type
		}
		if !known {
			out = append(out, old)
		}
	}
	return out
}
