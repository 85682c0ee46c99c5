package main

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// podTable indexes the pods this agent runs, by UID and by namespace/name.
type podTable struct {
	mu    sync.Mutex
	byUID map[types.UID]*podRuntime
}

func newPodTable() *podTable { return &podTable{byUID: map[types.UID]*podRuntime{}} }

func (t *podTable) get(uid types.UID) *podRuntime {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byUID[uid]
}

// byName returns the newest runtime for namespace/name (a name can be reused).
func (t *podTable) byName(namespace, name string) *podRuntime {
	t.mu.Lock()
	defer t.mu.Unlock()
	var found *podRuntime
	for _, rt := range t.byUID {
		if rt.namespace == namespace && rt.name == name && (found == nil || rt.created.After(found.created)) {
			found = rt
		}
	}
	return found
}

func (t *podTable) put(rt *podRuntime) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byUID[rt.uid] = rt
}

func (t *podTable) remove(uid types.UID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byUID, uid)
}

func (t *podTable) list() []*podRuntime {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*podRuntime, 0, len(t.byUID))
	for _, rt := range t.byUID {
		out = append(out, rt)
	}
	return out
}

// killAll stops every pod process at once (agent shutdown).
func (t *podTable) killAll() {
	var wg sync.WaitGroup
	for _, rt := range t.list() {
		wg.Add(1)
		go func(rt *podRuntime) { defer wg.Done(); rt.stop(2 * time.Second) }(rt)
	}
	wg.Wait()
}

// podSyncer turns pod events into runtime actions through a work queue.
type podSyncer struct {
	agent  *Agent
	lister corelisters.PodLister
	queue  workqueue.TypedRateLimitingInterface[string]
}

func newPodSyncer(a *Agent, lister corelisters.PodLister) *podSyncer {
	return &podSyncer{agent: a, lister: lister,
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())}
}

func (s *podSyncer) handler() cache.ResourceEventHandler {
	enqueue := func(obj interface{}) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		if _, ours := s.agent.nodes[pod.Spec.NodeName]; ours {
			s.queue.Add(pod.Namespace + "/" + pod.Name)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj interface{}) { enqueue(obj) },
		DeleteFunc: enqueue,
	}
}

func (s *podSyncer) run(ctx context.Context, workers int) {
	for i := 0; i < workers; i++ {
		go func() {
			for s.next(ctx) {
			}
		}()
	}
	<-ctx.Done()
	s.queue.ShutDown()
}

func (s *podSyncer) next(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	if err := s.sync(ctx, key); err != nil {
		klog.ErrorS(err, "pod sync failed", "pod", key)
		s.queue.AddRateLimited(key)
		return true
	}
	s.queue.Forget(key)
	return true
}

func (s *podSyncer) sync(ctx context.Context, key string) error {
	namespace, name, _ := cache.SplitMetaNamespaceKey(key)
	pod, err := s.lister.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// Gone from the API: stop and forget whatever still runs under that name.
		for _, rt := range s.agent.pods.list() {
			if rt.namespace == namespace && rt.name == name {
				s.agent.forget(rt)
			}
		}
		return nil
	}
	if err != nil {
		return err
	}
	if _, ours := s.agent.nodes[pod.Spec.NodeName]; !ours {
		return nil
	}
	// Older runtimes under the same name (a deleted and recreated pod) go first.
	for _, rt := range s.agent.pods.list() {
		if rt.namespace == namespace && rt.name == name && rt.uid != pod.UID {
			s.agent.forget(rt)
		}
	}
	rt := s.agent.pods.get(pod.UID)
	if pod.DeletionTimestamp != nil {
		if rt == nil {
			return s.agent.finalDelete(ctx, pod)
		}
		rt.requestStop(gracePeriod(pod), func() {
			if err := s.agent.finalDelete(context.Background(), pod); err != nil {
				klog.ErrorS(err, "final pod delete failed", "pod", key)
			}
		})
		return nil
	}
	if rt != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	rt = newPodRuntime(s.agent, pod)
	s.agent.pods.put(rt)
	go rt.run()
	return nil
}

func gracePeriod(pod *corev1.Pod) time.Duration {
	if pod.DeletionGracePeriodSeconds != nil {
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// finalDelete removes the pod object once its processes are gone, as the kubelet does.
func (a *Agent) finalDelete(ctx context.Context, pod *corev1.Pod) error {
	zero := int64(0)
	err := a.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      metav1.NewUIDPreconditions(string(pod.UID)),
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// forget stops a runtime and frees its address, hosts entry and files.
func (a *Agent) forget(rt *podRuntime) {
	rt.stop(2 * time.Second)
	a.pods.remove(rt.uid)
	a.ipam.release(string(rt.uid))
	a.hosts.removePod(rt.namespace, string(rt.uid))
	rt.removeFiles()
}
