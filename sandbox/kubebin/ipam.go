package main

import (
	"fmt"
	"sync"
)

// ipam hands every pod its own loopback address, prefix.<node>.<n>, so that pods on
// one machine never collide on a port and nothing ever routes off the host.
type ipam struct {
	mu     sync.Mutex
	prefix string
	inUse  map[string]string // ip -> pod uid
	byPod  map[string]string // pod uid -> ip
	next   map[int]int       // node index -> next host octet to try
}

func newIPAM(prefix string) *ipam {
	return &ipam{prefix: prefix, inUse: map[string]string{}, byPod: map[string]string{}, next: map[int]int{}}
}

// allocate returns the pod's address, reusing the one it already has.
func (p *ipam) allocate(node int, uid string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ip, ok := p.byPod[uid]; ok {
		return ip, nil
	}
	start := p.next[node]
	for i := 0; i < 253; i++ {
		host := 2 + (start+i)%253 // 2..254
		ip := fmt.Sprintf("%s.%d.%d", p.prefix, node, host)
		if _, taken := p.inUse[ip]; !taken {
			p.inUse[ip], p.byPod[uid] = uid, ip
			p.next[node] = (start + i + 1) % 253
			return ip, nil
		}
	}
	return "", fmt.Errorf("node %d has no free pod address left (253 pods running)", node)
}

func (p *ipam) release(uid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ip, ok := p.byPod[uid]; ok {
		delete(p.inUse, ip)
		delete(p.byPod, uid)
	}
}
