// Command kube-apiserver is the upstream entry point, built here from Go modules so the
// project's tests run against a real control plane without Docker.
package main

import (
	"os"
	_ "time/tzdata" // CronJob time zones, as upstream links it

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
