// Command kstatus reads Kubernetes objects as JSON, one per line on stdin, and
// prints what sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute (the library
// Flux's health checks use) makes of each: {"status": ..., "message": ...},
// one JSON object per line, in input order. An object that cannot be
// computed prints {"error": ...} on its line instead, so callers stay aligned.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

func compute(line []byte) result {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(line); err != nil {
		return result{Error: err.Error()}
	}
	res, err := status.Compute(u)
	if err != nil {
		return result{Error: err.Error()}
	}
	return result{Status: res.Status.String(), Message: res.Message}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		line := in.Bytes()
		if len(line) == 0 {
			continue
		}
		if err := out.Encode(compute(line)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
