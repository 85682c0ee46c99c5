package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// prepareVolumes materialises the pod's volumes as host directories and returns
// volume name -> directory. Containers see them at their mount paths (pod-exec).
func (a *Agent) prepareVolumes(ctx context.Context, pod *corev1.Pod, podDir string) (map[string]string, error) {
	out := map[string]string{}
	for _, vol := range pod.Spec.Volumes {
		dir := filepath.Join(podDir, "volumes", vol.Name)
		var files map[string][]byte
		var err error
		switch {
		case vol.EmptyDir != nil:
		case vol.HostPath != nil:
			dir = vol.HostPath.Path
			if vol.HostPath.Type != nil && *vol.HostPath.Type == corev1.HostPathDirectoryOrCreate {
				err = os.MkdirAll(dir, 0o755)
			}
		case vol.PersistentVolumeClaim != nil:
			dir = a.claimDir(pod.Namespace, vol.PersistentVolumeClaim.ClaimName)
		case vol.ConfigMap != nil:
			files, err = a.configMapFiles(ctx, pod.Namespace, vol.ConfigMap.Name, vol.ConfigMap.Items, vol.ConfigMap.Optional)
		case vol.Secret != nil:
			files, err = a.secretFiles(ctx, pod.Namespace, vol.Secret.SecretName, vol.Secret.Items, vol.Secret.Optional)
		case vol.DownwardAPI != nil:
			files, err = downwardFiles(pod, vol.DownwardAPI.Items)
		case vol.Projected != nil:
			files, err = a.projectedFiles(ctx, pod, vol.Projected.Sources)
		default:
			err = fmt.Errorf("volume %q: only emptyDir, hostPath, persistentVolumeClaim, configMap, secret, downwardAPI and projected volumes run in the sandbox", vol.Name)
		}
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		for name, body := range files {
			target := filepath.Join(dir, filepath.Clean("/"+name))
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(target, body, 0o644); err != nil {
				return nil, err
			}
		}
		out[vol.Name] = dir
	}
	return out, nil
}

func (a *Agent) claimDir(namespace, claim string) string {
	return filepath.Join(a.cfg.StateDir, "pvc", namespace, claim)
}

func pick(data map[string][]byte, items []corev1.KeyToPath, what string) (map[string][]byte, error) {
	if len(items) == 0 {
		return data, nil
	}
	out := map[string][]byte{}
	for _, item := range items {
		body, ok := data[item.Key]
		if !ok {
			return nil, fmt.Errorf("%s has no key %q", what, item.Key)
		}
		out[item.Path] = body
	}
	return out, nil
}

func (a *Agent) configMapFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool) (map[string][]byte, error) {
	cm, err := a.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && ptr.Deref(optional, false) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("configmap %q: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return pick(data, items, "configmap "+name)
}

func (a *Agent) secretFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool) (map[string][]byte, error) {
	secret, err := a.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && ptr.Deref(optional, false) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	return pick(secret.Data, items, "secret "+name)
}

func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, item := range items {
		if item.FieldRef == nil {
			continue // resource fields have no meaning without cgroups
		}
		value, err := podField(pod, item.FieldRef.FieldPath, "")
		if err != nil {
			return nil, err
		}
		out[item.Path] = []byte(value)
	}
	return out, nil
}

func (a *Agent) projectedFiles(ctx context.Context, pod *corev1.Pod, sources []corev1.VolumeProjection) (map[string][]byte, error) {
	out := map[string][]byte{}
	merge := func(files map[string][]byte, err error) error {
		for k, v := range files {
			out[k] = v
		}
		return err
	}
	for _, src := range sources {
		var err error
		switch {
		case src.ConfigMap != nil:
			err = merge(a.configMapFiles(ctx, pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional))
		case src.Secret != nil:
			err = merge(a.secretFiles(ctx, pod.Namespace, src.Secret.Name, src.Secret.Items, src.Secret.Optional))
		case src.DownwardAPI != nil:
			err = merge(downwardFiles(pod, src.DownwardAPI.Items))
		case src.ServiceAccountToken != nil:
			token, terr := a.podToken(ctx, pod, src.ServiceAccountToken)
			out[src.ServiceAccountToken.Path] = []byte(token)
			err = terr
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// podToken requests a token for the pod's service account, bound to the pod.
func (a *Agent) podToken(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) (string, error) {
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: src.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	resp, err := a.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for service account %s: %w", sa, err)
	}
	return resp.Status.Token, nil
}

// podField resolves a downward-API field path of the pod.
func podField(pod *corev1.Pod, path, podIP string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	case "status.hostIP", "status.hostIPs":
		return "127.0.0.1", nil
	case "metadata.labels", "metadata.annotations":
		m := pod.Labels
		if path == "metadata.annotations" {
			m = pod.Annotations
		}
		var lines []string
		for k, v := range m {
			lines = append(lines, fmt.Sprintf("%s=%q", k, v))
		}
		return strings.Join(lines, "\n"), nil
	}
	if key, ok := strings.CutPrefix(path, "metadata.labels['"); ok {
		return pod.Labels[strings.TrimSuffix(key, "']")], nil
	}
	if key, ok := strings.CutPrefix(path, "metadata.annotations['"); ok {
		return pod.Annotations[strings.TrimSuffix(key, "']")], nil
	}
	return "", fmt.Errorf("field path %q is not supported", path)
}
