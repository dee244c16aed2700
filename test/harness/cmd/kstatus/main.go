// Command kstatus prints what sigs.k8s.io/cli-utils' kstatus computes for
// Kubernetes objects: the status Flux, kpt and cli-utils' appliers wait on
// (InProgress, Current, Failed, Terminating) and its message.
//
// Input on stdin: JSON objects, one after another (one per line, as
// `kubectl get -o json` prints one, or pretty-printed), where a List (kind
// ending in "List" with items) stands for its items. Output on stdout: one
// JSON line per object, in input order:
//
//	{"kind":"TrainingJob","namespace":"ns","name":"a","status":"Current","message":"...","conditions":[...]}
//
// conditions are the Reconciling/Stalled conditions kstatus derives (what its
// Augment would add). An object kstatus cannot read gets "error" instead of
// status; the command then exits 1 after printing every line. Input that is
// not JSON exits 2.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

type line struct {
	Kind       string      `json:"kind"`
	Namespace  string      `json:"namespace,omitempty"`
	Name       string      `json:"name"`
	Status     string      `json:"status,omitempty"`
	Message    string      `json:"message,omitempty"`
	Conditions []condition `json:"conditions,omitempty"`
	Error      string      `json:"error,omitempty"`
}

func main() {
	objects, err := read(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: reading stdin: %v\n", err)
		os.Exit(2)
	}
	out := json.NewEncoder(os.Stdout)
	failed := false
	for _, o := range objects {
		l := compute(o)
		if l.Error != "" {
			failed = true
		}
		if err := out.Encode(l); err != nil {
			fmt.Fprintf(os.Stderr, "kstatus: writing stdout: %v\n", err)
			os.Exit(2)
		}
	}
	if failed {
		os.Exit(1)
	}
}

// read decodes every JSON value in r, expanding Lists into their items.
func read(r io.Reader) ([]*unstructured.Unstructured, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var objects []*unstructured.Unstructured
	for {
		var v map[string]any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return objects, nil
		}
		if err != nil {
			return nil, err
		}
		objects = append(objects, expand(v)...)
	}
}

func expand(v map[string]any) []*unstructured.Unstructured {
	kind, _ := v["kind"].(string)
	items, isList := v["items"].([]any)
	if !isList || !strings.HasSuffix(kind, "List") {
		return []*unstructured.Unstructured{{Object: numbers(v).(map[string]any)}}
	}
	var out []*unstructured.Unstructured
	for _, item := range items {
		if m, ok := item.(map[string]any); ok {
			out = append(out, expand(m)...)
		}
	}
	return out
}

// numbers turns json.Number into int64 (or float64), the types unstructured's
// Nested* accessors expect: metadata.generation and status.observedGeneration
// must read as int64 for kstatus to compare them.
func numbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
		return x
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	default:
		return v
	}
}

func compute(u *unstructured.Unstructured) line {
	l := line{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
	res, err := status.Compute(u)
	if err != nil {
		l.Error = err.Error()
		return l
	}
	l.Status = res.Status.String()
	l.Message = res.Message
	for _, c := range res.Conditions {
		l.Conditions = append(l.Conditions, condition{
			Type: c.Type.String(), Status: string(c.Status), Reason: c.Reason, Message: c.Message,
		})
	}
	return l
}
