package main

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func toYAML(t *testing.T, c *Config) string {
	t.Helper()
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
