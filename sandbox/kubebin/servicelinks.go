package main

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/utils/ptr"
)

// serviceLinkEnv returns the variables the kubelet gives a container for every
// service of its namespace ({NAME}_SERVICE_HOST, {NAME}_SERVICE_PORT[_{PORT}],
// {NAME}_PORT...), unless the pod turned service links off. Charts build URLs from
// them (e.g. http://hub:$(HUB_SERVICE_PORT)).
func serviceLinkEnv(pod *corev1.Pod, lister corelisters.ServiceLister) []string {
	if lister == nil || !ptr.Deref(pod.Spec.EnableServiceLinks, true) {
		return nil
	}
	services, err := lister.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	sort.Slice(services, func(i, j int) bool { return services[i].Name < services[j].Name })
	var env []string
	for _, svc := range services {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
			continue
		}
		if svc.Namespace == "default" && svc.Name == "kubernetes" {
			continue // KUBERNETES_SERVICE_* point at the loopback apiserver instead
		}
		name := strings.ToUpper(strings.ReplaceAll(svc.Name, "-", "_"))
		first := svc.Spec.Ports[0]
		env = append(env, name+"_SERVICE_HOST="+ip, fmt.Sprintf("%s_SERVICE_PORT=%d", name, first.Port),
			fmt.Sprintf("%s_PORT=%s://%s:%d", name, strings.ToLower(string(protocol(first))), ip, first.Port))
		for _, p := range svc.Spec.Ports {
			if p.Name != "" {
				env = append(env, fmt.Sprintf("%s_SERVICE_PORT_%s=%d", name,
					strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_")), p.Port))
			}
			proto := protocol(p)
			prefix := fmt.Sprintf("%s_PORT_%d_%s", name, p.Port, proto)
			env = append(env, fmt.Sprintf("%s=%s://%s:%d", prefix, strings.ToLower(string(proto)), ip, p.Port),
				prefix+"_PROTO="+strings.ToLower(string(proto)), fmt.Sprintf("%s_PORT=%d", prefix, p.Port),
				prefix+"_ADDR="+ip)
		}
	}
	return env
}

func protocol(p corev1.ServicePort) corev1.Protocol {
	if p.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return p.Protocol
}
