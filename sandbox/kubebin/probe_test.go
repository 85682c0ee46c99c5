package main

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestReadinessFollowsTheProbesThresholds(t *testing.T) {
	probe := &corev1.Probe{FailureThreshold: 2, SuccessThreshold: 2}
	var streak readinessStreak
	ready := false
	steps := []struct {
		passed, want bool
	}{
		{true, false}, // one pass of two needed
		{true, true},
		{false, true}, // one failure of two tolerated
		{true, true},  // a pass resets the failures
		{false, true},
		{false, false},
		{true, false},
		{true, true},
	}
	for i, step := range steps {
		ready = streak.observe(probe, ready, step.passed)
		if ready != step.want {
			t.Fatalf("step %d (passed=%v): ready=%v, want %v", i, step.passed, ready, step.want)
		}
	}
}

func TestReadinessDefaultsAreThoseOfKubernetes(t *testing.T) {
	var streak readinessStreak
	probe := &corev1.Probe{}
	if !streak.observe(probe, false, true) {
		t.Fatal("one pass should make a container ready by default")
	}
	for i, want := range []bool{true, true, false} {
		if got := streak.observe(probe, true, false); got != want {
			t.Fatalf("failure %d: ready=%v, want %v", i+1, got, want)
		}
	}
}
