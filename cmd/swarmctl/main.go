// Command swarmctl points every node of a Docker Swarm at a registry mirror.
package main

import (
	"os"

	"github.com/swarmctl/swarmctl/internal/cli"
)

func main() { os.Exit(cli.Main()) }
