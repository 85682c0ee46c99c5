package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
)

// runNodeAgent is the `node-agent` component: a small kubelet stand-in that registers
// the configured nodes, runs the pods bound to them as local processes, reports their
// status and serves their logs and port-forwards to the apiserver.
func runNodeAgent(args []string) int {
	fs := flag.NewFlagSet("node-agent", flag.ContinueOnError)
	configFile := fs.String("config", "", "agent configuration (JSON) written by the sandbox manager")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *configFile == "" {
		fmt.Fprintln(os.Stderr, "node-agent: --config is required")
		return 2
	}
	cfg, err := loadAgentConfig(*configFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "node-agent:", err)
		return 1
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	agent, err := newAgent(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "node-agent:", err)
		return 1
	}
	if err := agent.run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "node-agent:", err)
		return 1
	}
	return 0
}

// Agent owns the nodes of one cluster that execute pods.
type Agent struct {
	cfg      *AgentConfig
	client   kubernetes.Interface
	recorder record.EventRecorder
	nodes    map[string]int // node name -> index (for pod IPs)
	ipam     *ipam
	hosts    *hostsFiles
	pods     *podTable
	services corelisters.ServiceLister // for service-link environment variables
	proxy    *serviceProxy
}

func newAgent(cfg *AgentConfig) (*Agent, error) {
	restConfig, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", cfg.Kubeconfig, err)
	}
	restConfig.QPS, restConfig.Burst = 200, 400
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return nil, err
	}
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet"})
	nodes := map[string]int{}
	for i, n := range cfg.Nodes {
		nodes[n.Name] = i + 1
	}
	for _, dir := range []string{"pods", "hosts", "pvc", "jupyter-config"} {
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, dir), 0o755); err != nil {
			return nil, err
		}
	}
	hosts := newHostsFiles(filepath.Join(cfg.StateDir, "hosts"), cfg.ClusterDomain)
	a := &Agent{
		cfg:      cfg,
		client:   client,
		recorder: recorder,
		nodes:    nodes,
		ipam:     newIPAM(cfg.PodIPPrefix),
		hosts:    hosts,
		pods:     newPodTable(),
		proxy:    newServiceProxy(hosts),
	}
	return a, writeJupyterRootConfig(filepath.Join(cfg.StateDir, "jupyter-config"))
}

// writeJupyterRootConfig lets Jupyter servers run under the agent, which runs pod
// processes as its own (root) user.
func writeJupyterRootConfig(dir string) error {
	body := []byte(`{"ServerApp": {"allow_root": true}}` + "\n")
	return os.WriteFile(filepath.Join(dir, "jupyter_server_config.json"), body, 0o644)
}

func (a *Agent) run(ctx context.Context) error {
	if err := a.registerNodes(ctx); err != nil {
		return err
	}
	go a.heartbeat(ctx)
	if err := a.runProvisioner(ctx); err != nil {
		return err
	}

	server, err := a.newKubeletServer()
	if err != nil {
		return err
	}
	go func() {
		if err := server.ListenAndServeTLS("", ""); err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "kubelet API server stopped")
		}
	}()

	// Only scheduled pods matter to a node; services feed the pods' name resolution.
	podFactory := informers.NewSharedInformerFactoryWithOptions(a.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName!=" }))
	svcFactory := informers.NewSharedInformerFactory(a.client, 0)
	podInformer := podFactory.Core().V1().Pods()
	sync := newPodSyncer(a, podInformer.Lister())
	podInformer.Informer().AddEventHandler(sync.handler())
	services := svcFactory.Core().V1().Services()
	services.Informer().AddEventHandler(a.hosts.serviceHandler())
	services.Informer().AddEventHandler(a.proxy.handler())
	a.services = services.Lister()
	podFactory.Start(ctx.Done())
	svcFactory.Start(ctx.Done())
	podFactory.WaitForCacheSync(ctx.Done())
	svcFactory.WaitForCacheSync(ctx.Done())
	klog.InfoS("node agent ready", "cluster", a.cfg.Cluster, "nodes", len(a.nodes), "listen", a.cfg.ListenAddress)
	go sync.run(ctx, 4)

	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = server.Shutdown(shutdown)
	a.proxy.closeAll()
	a.pods.killAll()
	return nil
}
