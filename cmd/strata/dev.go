package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func devCommand() *cobra.Command {
	dev := &cobra.Command{Use: "dev", Short: "Tools for running Strata locally"}
	dev.AddCommand(devClusterCommand())
	return dev
}

// devNode is one child `strata server` of `strata dev cluster`.
type devNode struct {
	id                int
	zone              string
	kafka, ctrl, http string
	dir, logPath      string
	voter             bool
	cmd               *exec.Cmd
	done              chan struct{}
	err               error // cmd.Wait's result once done is closed
}

func devClusterCommand() *cobra.Command {
	var nodes, basePort int
	var dir, config string
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run a cluster on loopback: one `strata server` process per node, zones a, b, c, until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodes < 1 || nodes > 9 {
				return fmt.Errorf("dev cluster: --nodes must be 1..9, not %d", nodes)
			}
			return runDevCluster(nodes, basePort, dir, config)
		},
	}
	f := cmd.Flags()
	f.IntVar(&nodes, "nodes", 3, "number of nodes; the first three are controllers, all are brokers")
	f.StringVar(&dir, "dir", "./strata-dev", "folder holding each node's data directory and log (node-N/)")
	f.StringVar(&config, "config", "", "YAML config file every node reads (strata server --config)")
	f.IntVar(&basePort, "base-port", 0, "node N listens on base+N-1 (Kafka), base+100+N-1 (controller), base+200+N-1 (HTTP); 0: free ports")
	return cmd
}

func runDevCluster(n, basePort int, dir, config string) error {
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("dev cluster: %w", err)
	}
	nodes, err := planDevNodes(n, basePort, dir)
	if err != nil {
		return err
	}
	var voters []string
	for _, nd := range nodes {
		if nd.voter {
			voters = append(voters, fmt.Sprintf("%d@%s", nd.id, nd.ctrl))
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	for _, nd := range nodes {
		if err := nd.start(bin, strings.Join(voters, ","), config); err != nil {
			stopDevNodes(nodes)
			return err
		}
	}
	fmt.Printf("%-5s %-5s %-22s %-22s %-22s %s\n", "node", "zone", "kafka", "controller", "http", "log")
	var seeds []string
	for _, nd := range nodes {
		ctrl := nd.ctrl
		if !nd.voter {
			ctrl = "(follower)"
		}
		fmt.Printf("%-5d %-5s %-22s %-22s %-22s %s\n", nd.id, nd.zone, nd.kafka, ctrl, nd.http, nd.logPath)
		seeds = append(seeds, nd.kafka)
	}
	fmt.Printf("bootstrap servers: %s\n", strings.Join(seeds, ","))
	exited := make(chan *devNode, len(nodes))
	for _, nd := range nodes {
		go func() { <-nd.done; exited <- nd }()
	}
	go waitDevReady(nodes)
	for {
		select {
		case sig := <-sigs:
			fmt.Printf("%s: stopping the nodes\n", sig)
			return stopDevNodes(nodes)
		case nd := <-exited:
			fmt.Printf("node %d exited: %v (log: %s)\n", nd.id, nd.err, nd.logPath)
		}
	}
}

func planDevNodes(n, basePort int, dir string) ([]*devNode, error) {
	zones := []string{"a", "b", "c"}
	var nodes []*devNode
	for i := range n {
		nd := &devNode{id: i + 1, zone: zones[i%len(zones)], voter: i < 3, dir: filepath.Join(dir, fmt.Sprintf("node-%d", i+1))}
		if basePort > 0 {
			nd.kafka = loopback(basePort + i)
			nd.ctrl = loopback(basePort + 100 + i)
			nd.http = loopback(basePort + 200 + i)
		} else {
			var err error
			for _, p := range []*string{&nd.kafka, &nd.ctrl, &nd.http} {
				if *p, err = freeLoopbackAddr(); err != nil {
					return nil, err
				}
			}
		}
		nd.logPath = filepath.Join(nd.dir, "server.log")
		nodes = append(nodes, nd)
	}
	return nodes, nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("dev cluster: pick a port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (nd *devNode) start(bin, voters, config string) error {
	if err := os.MkdirAll(nd.dir, 0o755); err != nil {
		return fmt.Errorf("dev cluster: %w", err)
	}
	logFile, err := os.OpenFile(nd.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("dev cluster: %w", err)
	}
	args := []string{"server", "--node-id", strconv.Itoa(nd.id), "--data", nd.dir,
		"--listen", nd.kafka, "--http", nd.http, "--controllers", voters, "--zone", nd.zone}
	if config != "" {
		args = append(args, "--config", config)
	}
	if nd.voter {
		args = append(args, "--controller-listen", nd.ctrl)
	} else {
		args = append(args, "--roles", "broker")
	}
	nd.cmd = exec.Command(bin, args...)
	nd.cmd.Stdout, nd.cmd.Stderr = logFile, logFile
	// Own process group: a terminal's Ctrl-C reaches only this process,
	// which then stops the nodes itself.
	nd.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := nd.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("dev cluster: start node %d: %w", nd.id, err)
	}
	nd.done = make(chan struct{})
	go func() {
		nd.err = nd.cmd.Wait()
		logFile.Close()
		close(nd.done)
	}()
	return nil
}

// waitDevReady prints when every node answers /healthz.
func waitDevReady(nodes []*devNode) {
	c := http.Client{Timeout: time.Second}
	start := time.Now()
	for _, nd := range nodes {
		for time.Since(start) < 2*time.Minute {
			resp, err := c.Get("http://" + nd.http + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	fmt.Printf("cluster ready after %v\n", time.Since(start).Round(time.Millisecond))
}

// devStopTimeout bounds a node's clean shutdown before it is killed.
const devStopTimeout = 20 * time.Second

// stopDevNodes sends SIGTERM to every running node and waits; a node that
// does not stop in time is killed.
func stopDevNodes(nodes []*devNode) error {
	for _, nd := range nodes {
		if nd.cmd != nil && nd.cmd.Process != nil {
			nd.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	var errs []error
	deadline := time.After(devStopTimeout)
	for _, nd := range nodes {
		if nd.done == nil {
			continue
		}
		select {
		case <-nd.done:
		case <-deadline:
			nd.cmd.Process.Kill()
			<-nd.done
			errs = append(errs, fmt.Errorf("node %d did not stop within %v; killed", nd.id, devStopTimeout))
		}
		if nd.err != nil && !errors.As(nd.err, new(*exec.ExitError)) {
			errs = append(errs, fmt.Errorf("node %d: %w", nd.id, nd.err))
		}
	}
	fmt.Println("stopped")
	return errors.Join(errs...)
}
