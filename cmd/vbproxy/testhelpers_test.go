package main

import (
	"runtime"
	"testing"

	"gopkg.in/yaml.v3"
)

func toYAML(t *testing.T, c *Config) string { return toYAMLAny(t, c) }

func toYAMLAny(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func goVersion() string { return runtime.Version() }
