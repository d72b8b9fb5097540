//go:build runtime_only

package main

import (
	"fmt"
	"os"

	"github.com/hako-dev/hako/internal/runtimecli"
)

// cliMain of a runtime-only build (go build -tags runtime_only): the OCI
// runtime without the daemon and its client, so that every process start
// (the runtime's, and the container init's) runs fewer package
// initialisers. bench/runtime.sh measures this build as hako-runtime.
func cliMain(args []string) int {
	if len(args) > 0 && args[0] == "runtime" {
		return runtimecli.Main("hako runtime", args[1:])
	}
	fmt.Fprintln(os.Stderr, "hako: this is a runtime-only build: use \"hako runtime VERB\", or call it as hako-runtime")
	return 125
}
