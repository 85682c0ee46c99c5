package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// AgentConfig is what the sandbox manager hands the node agent (a JSON file).
type AgentConfig struct {
	Cluster        string        `json:"cluster"`
	Kubeconfig     string        `json:"kubeconfig"`
	APIServerHost  string        `json:"apiServerHost"`
	APIServerPort  int           `json:"apiServerPort"`
	ListenAddress  string        `json:"listenAddress"` // kubelet API, e.g. 127.0.0.1:16405
	NodeAddress    string        `json:"nodeAddress"`   // InternalIP reported for every node
	TLSCert        string        `json:"tlsCert"`
	TLSKey         string        `json:"tlsKey"`
	ClientCA       string        `json:"clientCA"`    // CA that signs the apiserver's kubelet client cert
	PodIPPrefix    string        `json:"podIPPrefix"` // first two octets, e.g. "127.101"
	StateDir       string        `json:"stateDir"`
	Preload        string        `json:"preload"` // bind shim shared object
	Environments   []Environment `json:"environments"`
	Nodes          []NodeSpec    `json:"nodes"`
	ClusterDomain  string        `json:"clusterDomain"`
	HeartbeatEvery int           `json:"heartbeatSeconds"`
}

// Environment maps container images to a local bin directory whose programs stand
// in for the image: the image name is recorded, never pulled.
type Environment struct {
	Image string `json:"image"` // shell glob on the image name; "*" matches all
	Bin   string `json:"bin"`
}

// NodeSpec is one node this agent registers and runs pods for.
type NodeSpec struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Taints      []TaintSpec       `json:"taints"`
	Capacity    map[string]string `json:"capacity"`
}

// TaintSpec mirrors a corev1.Taint in the topology's terms.
type TaintSpec struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Effect string `json:"effect"`
}

func loadAgentConfig(file string) (*AgentConfig, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	cfg := &AgentConfig{}
	if err := json.Unmarshal(raw, cfg); err != nil {
		return nil, fmt.Errorf("agent config %s: %w", file, err)
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.HeartbeatEvery == 0 {
		cfg.HeartbeatEvery = 10
	}
	if len(cfg.Nodes) == 0 {
		return nil, fmt.Errorf("agent config %s lists no nodes", file)
	}
	return cfg, nil
}

// binFor returns the bin directory standing in for image, or "" if none matches.
func (c *AgentConfig) binFor(image string) string {
	for _, env := range c.Environments {
		if imageMatches(env.Image, image) {
			return env.Bin
		}
	}
	return ""
}

// imageMatches is a shell-style glob in which '*' also matches '/' (registry paths).
func imageMatches(pattern, image string) bool {
	expr := "^" + strings.ReplaceAll(strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*"), `\?`, ".") + "$"
	ok, err := regexp.MatchString(expr, image)
	return err == nil && ok
}
