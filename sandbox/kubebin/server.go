package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubelet/pkg/cri/streaming/portforward"
)

// newKubeletServer serves the part of the kubelet API the apiserver proxies to:
// container logs and port-forwarding. Only clients with a certificate from the
// cluster CA (the apiserver) are accepted.
func (a *Agent) newKubeletServer() (*http.Server, error) {
	cert, err := tls.LoadX509KeyPair(a.cfg.TLSCert, a.cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("kubelet serving certificate: %w", err)
	}
	caPEM, err := os.ReadFile(a.cfg.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", a.serveLogs)
	mux.HandleFunc("/portForward/{namespace}/{pod}", a.servePortForward)
	mux.HandleFunc("/portForward/{namespace}/{pod}/{uid}", a.servePortForward)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, fmt.Sprintf("the sandbox node agent does not serve %s (logs and port-forward only)", r.URL.Path), http.StatusNotImplemented)
	})
	return &http.Server{
		Addr:    a.cfg.ListenAddress,
		Handler: mux,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		},
		ReadHeaderTimeout: 10 * time.Second,
	}, nil
}

type logQuery struct {
	follow, previous, timestamps bool
	tail                         int64 // -1: all
	limitBytes                   int64 // 0: no limit
	since                        time.Time
}

func parseLogQuery(r *http.Request) (logQuery, error) {
	q := r.URL.Query()
	lq := logQuery{tail: -1, follow: q.Get("follow") == "true", previous: q.Get("previous") == "true",
		timestamps: q.Get("timestamps") == "true"}
	var err error
	if v := q.Get("tailLines"); v != "" {
		if lq.tail, err = strconv.ParseInt(v, 10, 64); err != nil || lq.tail < 0 {
			return lq, fmt.Errorf("tailLines must be a non-negative integer, got %q", v)
		}
	}
	if v := q.Get("limitBytes"); v != "" {
		if lq.limitBytes, err = strconv.ParseInt(v, 10, 64); err != nil || lq.limitBytes <= 0 {
			return lq, fmt.Errorf("limitBytes must be a positive integer, got %q", v)
		}
	}
	if v := q.Get("sinceSeconds"); v != "" {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs <= 0 {
			return lq, fmt.Errorf("sinceSeconds must be a positive integer, got %q", v)
		}
		lq.since = time.Now().Add(-time.Duration(secs) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		if lq.since, err = time.Parse(time.RFC3339, v); err != nil {
			return lq, fmt.Errorf("sinceTime must be RFC 3339, got %q", v)
		}
	}
	return lq, nil
}

func (a *Agent) serveLogs(w http.ResponseWriter, r *http.Request) {
	lq, err := parseLogQuery(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ns, podName, name := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	rt := a.pods.byName(ns, podName)
	if rt == nil {
		http.Error(w, fmt.Sprintf("pod %s/%s is not running on this node", ns, podName), http.StatusNotFound)
		return
	}
	c, ok := rt.containers[name]
	if !ok {
		http.Error(w, fmt.Sprintf("container %s is not valid for pod %s", name, podName), http.StatusBadRequest)
		return
	}
	path, running, changed, err := c.logs.snapshot(lq.previous, c.restartCount())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if path == "" {
		http.Error(w, fmt.Sprintf("container %q in pod %q is waiting to start", name, podName), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	out := &limitedWriter{w: w, left: lq.limitBytes}
	write := func(line criLine) bool {
		if !lq.since.IsZero() && line.time.Before(lq.since) {
			return true
		}
		if lq.timestamps {
			out.write([]byte(line.time.Format(time.RFC3339Nano) + " "))
		}
		out.write(append(line.content, '\n'))
		return !out.full()
	}
	offset, err := writeTail(path, lq.tail, write)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	flush(w)
	for lq.follow && running && !out.full() {
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		}
		_, running, changed, _ = c.logs.snapshot(false, 0)
		if offset, err = readLines(path, offset, write); err != nil {
			return
		}
		flush(w)
	}
}

// writeTail emits the last n lines of path (all when n < 0) and returns the offset read.
func writeTail(path string, n int64, emit func(criLine) bool) (int64, error) {
	var ring []criLine
	offset, err := readLines(path, 0, func(line criLine) bool {
		ring = append(ring, line)
		if n >= 0 && int64(len(ring)) > n {
			ring = ring[1:]
		}
		return true
	})
	for _, line := range ring {
		if !emit(line) {
			break
		}
	}
	return offset, err
}

type limitedWriter struct {
	w    io.Writer
	left int64 // 0 means unlimited
	cut  bool
}

func (l *limitedWriter) write(p []byte) {
	if l.cut {
		return
	}
	if l.left > 0 {
		if int64(len(p)) >= l.left {
			p, l.cut = p[:l.left], true
		}
		l.left -= int64(len(p))
	}
	_, _ = l.w.Write(p)
}

func (l *limitedWriter) full() bool { return l.cut }

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func (a *Agent) servePortForward(w http.ResponseWriter, r *http.Request) {
	ns, podName := r.PathValue("namespace"), r.PathValue("pod")
	rt := a.pods.byName(ns, podName)
	if rt == nil {
		http.Error(w, fmt.Sprintf("pod %s/%s is not running on this node", ns, podName), http.StatusNotFound)
		return
	}
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	portforward.ServePortForward(w, r, podForwarder{rt}, rt.key(), rt.uid, opts,
		4*time.Hour, 30*time.Second, portforward.SupportedProtocols)
}

// podForwarder connects a forwarded stream to a port on the pod's loopback address.
type podForwarder struct{ rt *podRuntime }

func (f podForwarder) PortForward(ctx context.Context, _ string, _ types.UID, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	f.rt.mu.Lock()
	ip := f.rt.ip
	f.rt.mu.Unlock()
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("pod %s port %d: %w", f.rt.key(), port, err)
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(conn, stream); done <- struct{}{} }()
	go func() { _, _ = io.Copy(stream, conn); done <- struct{}{} }()
	<-done
	return nil
}
