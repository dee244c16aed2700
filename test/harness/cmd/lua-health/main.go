// Command lua-health runs Argo CD resource health checks the way Argo CD runs
// them: in gopher-lua, the Lua VM Argo CD embeds, with only the libraries
// Argo CD opens and the object converted to Lua values as Argo CD converts it.
//
// Usage: lua-health DIR
//
// DIR is laid out like argo-cd's resource_customizations directory:
// DIR/<group>/<kind>/health.lua beside health_test.yaml, whose tests name
// objects under testdata/. For every test it prints one JSON line:
//
//	{"group":"...","kind":"...","inputPath":"...","status":"...","message":"..."}
//
// with "error" instead of status and message when the script fails. It checks
// nothing: the caller compares with health_test.yaml. Exit status 1 when a
// script failed or a file could not be read, 2 on wrong usage.
package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// healthTests is health_test.yaml, in argo-cd's format.
type healthTests struct {
	Tests []struct {
		InputPath    string `json:"inputPath"`
		HealthStatus struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"healthStatus"`
	} `json:"tests"`
}

// result is one printed line.
type result struct {
	Group     string `json:"group"`
	Kind      string `json:"kind"`
	InputPath string `json:"inputPath"`
	Status    string `json:"status,omitempty"`
	Message   string `json:"message,omitempty"`
	Error     string `json:"error,omitempty"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: lua-health RESOURCE_CUSTOMIZATIONS_DIR")
		os.Exit(2)
	}
	failed, err := runAll(os.Args[1], json.NewEncoder(os.Stdout))
	if err != nil {
		fmt.Fprintln(os.Stderr, "lua-health:", err)
		os.Exit(1)
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "lua-health: %d script run(s) failed\n", failed)
		os.Exit(1)
	}
}

// runAll runs every health.lua under root over its tests; it returns how many runs failed.
func runAll(root string, out *json.Encoder) (int, error) {
	failed := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != "health.lua" {
			return nil
		}
		n, err := runKind(root, filepath.Dir(path), out)
		failed += n
		return err
	})
	return failed, err
}

// runKind runs dir/health.lua over the tests of dir/health_test.yaml.
func runKind(root, dir string, out *json.Encoder) (int, error) {
	script, err := os.ReadFile(filepath.Join(dir, "health.lua"))
	if err != nil {
		return 0, err
	}
	var tests healthTests
	if err := readYAML(filepath.Join(dir, "health_test.yaml"), &tests); err != nil {
		return 0, err
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return 0, err
	}
	group, kind := filepath.Split(rel)
	failed := 0
	for _, t := range tests.Tests {
		r := result{Group: filepath.Clean(group), Kind: kind, InputPath: t.InputPath}
		var obj map[string]any
		if err := readYAML(filepath.Join(dir, t.InputPath), &obj); err != nil {
			return failed, err
		}
		status, message, err := executeHealth(string(script), obj)
		if err != nil {
			r.Error = err.Error()
			failed++
		} else {
			r.Status, r.Message = status, message
		}
		if err := out.Encode(r); err != nil {
			return failed, err
		}
	}
	return failed, nil
}

// readYAML decodes a YAML file through JSON, as Argo CD's own health tests read
// their objects (numbers become float64, as from the API server's JSON).
func readYAML(path string, into any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
