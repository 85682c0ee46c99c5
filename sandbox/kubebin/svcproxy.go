package main

import (
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// serviceProxy stands in for kube-proxy (in its original userspace mode): for every
// TCP port of every service with a cluster IP, it listens on clusterIP:port and relays
// each connection to a backing pod's targetPort, so a Service whose port differs from
// its targetPort (80 -> 8000) works. Cluster IPs come from the sandbox's loopback
// service range, so nothing here ever leaves the host.
type serviceProxy struct {
	hosts *hostsFiles
	mu    sync.Mutex
	byKey map[string]map[string]*svcListener // namespace/name -> ip:port -> listener
}

type svcListener struct {
	ln   net.Listener
	mu   sync.Mutex
	svc  *corev1.Service
	port corev1.ServicePort
	next int
}

func newServiceProxy(hosts *hostsFiles) *serviceProxy {
	return &serviceProxy{hosts: hosts, byKey: map[string]map[string]*svcListener{}}
}

func (p *serviceProxy) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { p.sync(obj.(*corev1.Service), true) },
		UpdateFunc: func(_, obj interface{}) { p.sync(obj.(*corev1.Service), true) },
		DeleteFunc: func(obj interface{}) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if svc, ok := obj.(*corev1.Service); ok {
				p.sync(svc, false)
			}
		},
	}
}

// sync opens the listeners the service needs now and closes those it no longer has.
func (p *serviceProxy) sync(svc *corev1.Service, present bool) {
	key := svc.Namespace + "/" + svc.Name
	want := map[string]corev1.ServicePort{}
	ip := net.ParseIP(svc.Spec.ClusterIP)
	if present && ip != nil && ip.IsLoopback() && len(svc.Spec.Selector) > 0 {
		for _, port := range svc.Spec.Ports {
			if protocol(port) == corev1.ProtocolTCP {
				want[net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(port.Port)))] = port
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	current := p.byKey[key]
	if current == nil {
		current = map[string]*svcListener{}
		p.byKey[key] = current
	}
	for addr, l := range current {
		if _, keep := want[addr]; !keep {
			_ = l.ln.Close()
			delete(current, addr)
		}
	}
	for addr, port := range want {
		if l, ok := current[addr]; ok {
			l.mu.Lock()
			l.svc, l.port = svc, port
			l.mu.Unlock()
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			klog.ErrorS(err, "service proxy cannot listen", "service", key, "address", addr)
			continue
		}
		l := &svcListener{ln: ln, svc: svc, port: port}
		current[addr] = l
		go p.serve(l)
	}
	if len(current) == 0 {
		delete(p.byKey, key)
	}
}

func (p *serviceProxy) serve(l *svcListener) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return // closed
		}
		go p.relay(l, conn)
	}
}

// relay connects the client to the next backing pod that accepts, round robin.
func (p *serviceProxy) relay(l *svcListener, client net.Conn) {
	defer client.Close()
	l.mu.Lock()
	svc, port, start := l.svc, l.port, l.next
	l.next++
	l.mu.Unlock()
	backends := p.hosts.backends(svc.Namespace, svc.Spec.Selector)
	for i := range backends {
		b := backends[(start+i)%len(backends)]
		target := targetPortOf(port, b)
		if target == 0 {
			continue
		}
		upstream, err := net.DialTimeout("tcp", net.JoinHostPort(b.ip, strconv.Itoa(target)), 2*time.Second)
		if err != nil {
			continue
		}
		defer upstream.Close()
		done := make(chan struct{}, 2)
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			if tcp, ok := dst.(*net.TCPConn); ok {
				_ = tcp.CloseWrite()
			}
			done <- struct{}{}
		}
		go pipe(upstream, client)
		go pipe(client, upstream)
		<-done
		<-done
		return
	}
	klog.V(2).InfoS("service has no backend accepting connections", "service", svc.Namespace+"/"+svc.Name, "port", port.Port)
}

// targetPortOf resolves a service port's targetPort (number, name, or unset) on a pod.
func targetPortOf(port corev1.ServicePort, pod hostPod) int {
	switch {
	case port.TargetPort.Type == intstr.String && port.TargetPort.StrVal != "":
		return int(pod.ports[port.TargetPort.StrVal])
	case port.TargetPort.IntValue() != 0:
		return port.TargetPort.IntValue()
	}
	return int(port.Port)
}

func (p *serviceProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, listeners := range p.byKey {
		for _, l := range listeners {
			_ = l.ln.Close()
		}
	}
	p.byKey = map[string]map[string]*svcListener{}
}
