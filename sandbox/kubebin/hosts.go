package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

// hostsFiles keeps one hosts file per namespace, bind-mounted over /etc/hosts in each
// pod: it stands in for cluster DNS, resolving pod hostnames (hostname.subdomain) and
// service names to the loopback addresses of the pods behind them.
type hostsFiles struct {
	mu       sync.Mutex
	dir      string
	domain   string
	pods     map[string]map[string]hostPod         // namespace -> pod uid -> entry
	services map[string]map[string]*corev1.Service // namespace -> name -> service
}

type hostPod struct {
	ip, hostname, subdomain string
	labels                  map[string]string
	ports                   map[string]int32 // named container ports, for services' targetPort
}

func newHostsFiles(dir, domain string) *hostsFiles {
	return &hostsFiles{dir: dir, domain: domain, pods: map[string]map[string]hostPod{}, services: map[string]map[string]*corev1.Service{}}
}

func (h *hostsFiles) path(namespace string) string { return filepath.Join(h.dir, namespace) }

// addPod records a running pod's address and rewrites its namespace's file.
func (h *hostsFiles) addPod(pod *corev1.Pod, ip string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pods[pod.Namespace] == nil {
		h.pods[pod.Namespace] = map[string]hostPod{}
	}
	hostname := pod.Spec.Hostname
	if hostname == "" {
		hostname = pod.Name
	}
	ports := map[string]int32{}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name != "" {
				ports[p.Name] = p.ContainerPort
			}
		}
	}
	h.pods[pod.Namespace][string(pod.UID)] = hostPod{ip: ip, hostname: hostname, subdomain: pod.Spec.Subdomain,
		labels: pod.Labels, ports: ports}
	return h.write(pod.Namespace)
}

// backends lists the pods of a namespace that a service selector matches, in a stable order.
func (h *hostsFiles) backends(namespace string, selector map[string]string) []hostPod {
	h.mu.Lock()
	defer h.mu.Unlock()
	sel := labels.SelectorFromSet(selector)
	uids := make([]string, 0, len(h.pods[namespace]))
	for uid := range h.pods[namespace] {
		uids = append(uids, uid)
	}
	sort.Strings(uids)
	var out []hostPod
	for _, uid := range uids {
		if p := h.pods[namespace][uid]; sel.Matches(labels.Set(p.labels)) {
			out = append(out, p)
		}
	}
	return out
}

func (h *hostsFiles) removePod(namespace, uid string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.pods[namespace][uid]; ok {
		delete(h.pods[namespace], uid)
		_ = h.write(namespace)
	}
}

func (h *hostsFiles) setService(svc *corev1.Service, present bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.services[svc.Namespace] == nil {
		h.services[svc.Namespace] = map[string]*corev1.Service{}
	}
	if present {
		h.services[svc.Namespace][svc.Name] = svc
	} else {
		delete(h.services[svc.Namespace], svc.Name)
	}
	_ = h.write(svc.Namespace)
}

func (h *hostsFiles) serviceHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { h.setService(obj.(*corev1.Service), true) },
		UpdateFunc: func(_, obj interface{}) { h.setService(obj.(*corev1.Service), true) },
		DeleteFunc: func(obj interface{}) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if svc, ok := obj.(*corev1.Service); ok {
				h.setService(svc, false)
			}
		},
	}
}

// write renders the namespace's file; the caller holds the lock. The file is rewritten
// in place (one write) because running pods see it through a bind mount.
func (h *hostsFiles) write(namespace string) error {
	lines := []string{"127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"}
	svcDomain := func(name string) []string {
		base := name + "." + namespace
		return []string{base + ".svc." + h.domain, base + ".svc", base, name}
	}
	uids := make([]string, 0, len(h.pods[namespace]))
	for uid := range h.pods[namespace] {
		uids = append(uids, uid)
	}
	sort.Strings(uids)
	for _, uid := range uids {
		p := h.pods[namespace][uid]
		names := []string{p.hostname}
		if p.subdomain != "" {
			// hostname.subdomain.namespace.svc.<domain> and its shorter forms.
			names = append(svcDomain(p.subdomain), p.hostname)
			for i := range names[:4] {
				names[i] = p.hostname + "." + names[i]
			}
		}
		lines = append(lines, p.ip+"\t"+strings.Join(names, " "))
	}
	svcNames := make([]string, 0, len(h.services[namespace]))
	for name := range h.services[namespace] {
		svcNames = append(svcNames, name)
	}
	sort.Strings(svcNames)
	for _, name := range svcNames {
		svc := h.services[namespace][name]
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		selector := labels.SelectorFromSet(svc.Spec.Selector)
		for _, uid := range uids {
			p := h.pods[namespace][uid]
			if selector.Matches(labels.Set(p.labels)) {
				lines = append(lines, p.ip+"\t"+strings.Join(svcDomain(name), " "))
				if svc.Spec.ClusterIP != corev1.ClusterIPNone {
					break // a ClusterIP service resolves to one backing pod
				}
			}
		}
	}
	body := strings.Join(lines, "\n") + "\n"
	f, err := os.OpenFile(h.path(namespace), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("hosts file for %s: %w", namespace, err)
	}
	defer f.Close()
	_, err = f.WriteString(body)
	return err
}

// ensure creates the namespace's file so it can be bind-mounted before any pod runs.
func (h *hostsFiles) ensure(namespace string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := os.Stat(h.path(namespace)); err == nil {
		return h.path(namespace), nil
	}
	return h.path(namespace), h.write(namespace)
}
