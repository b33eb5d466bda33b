// Command testenv runs a real Kubernetes control plane on loopback for
// kubeloop's tests, demo and benchmarks: etcd embedded in-process, the real
// kube-apiserver (k8s.io/kubernetes/cmd/kube-apiserver/app) serving TLS with
// RBAC on, and the real kube-controller-manager (garbage collector, namespace
// and service-account controllers) as a child process of the same binary.
//
// Why one binary: a fresh machine needs nothing but Go and the module proxy,
// and the Python launcher (kubeloop.testenv) has one process to start and
// one to stop. Why a child process for the controller manager: both
// components install a process-wide signal handler and global feature gates,
// which may exist only once per process.
//
// Usage:
//
//	testenv up --dir DIR [--port N] [--etcd-compaction-interval 5m] [-- extra apiserver flags]
//	testenv controller-manager [kube-controller-manager flags]   (internal)
//
// On readiness it writes DIR/kubeconfig (admin, group system:masters) and
// prints one line "READY <kubeconfig>" on stdout.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	kcm "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testenv up --dir DIR [--port N] | testenv controller-manager ...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "up":
		if err := up(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
			os.Exit(1)
		}
	case "controller-manager":
		cmd := kcm.NewControllerManagerCommand()
		cmd.SetArgs(os.Args[2:])
		if err := cmd.Execute(); err != nil {
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "testenv: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

func up(args []string) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	dir := fs.String("dir", "", "state directory (certificates, etcd data, kubeconfig); reused on restart")
	port := fs.Int("port", 0, "kube-apiserver secure port on 127.0.0.1 (0: a free port)")
	compaction := fs.Duration("etcd-compaction-interval", 5*time.Minute, "how often kube-apiserver compacts etcd (small values force 410 Gone)")
	exitWithParent := fs.Bool("exit-with-parent", false,
		"exit when the parent process dies (no leftovers when a test run is killed)")
	controllers := fs.String("controllers", "garbage-collector-controller,namespace-controller,serviceaccount-controller",
		"kube-controller-manager controllers to run (empty: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("--dir is required")
	}
	extra := fs.Args()
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return err
	}
	p, err := ensurePKI(filepath.Join(abs, "pki"))
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	ports, err := loadOrPickPorts(filepath.Join(abs, "etcd-ports"))
	if err != nil {
		return err
	}
	etcd, etcdURL, err := startEtcd(filepath.Join(abs, "etcd"), ports)
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer etcd.Close()

	securePort := *port
	if securePort == 0 {
		if securePort, err = freePort(); err != nil {
			return err
		}
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", securePort)
	kubeconfig := filepath.Join(abs, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, server, p); err != nil {
		return err
	}

	apiArgs := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(securePort),
		"--cert-dir=" + filepath.Join(abs, "pki", "apiserver-generated"),
		"--tls-cert-file=" + p.serverCert,
		"--tls-private-key-file=" + p.serverKey,
		"--client-ca-file=" + p.caCert,
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.saPub,
		"--service-account-signing-key-file=" + p.saKey,
		"--allow-privileged=true",
		"--endpoint-reconciler-type=none",
		"--shutdown-delay-duration=0s",
		"--etcd-compaction-interval=" + compaction.String(),
		"--watch-cache=true",
		// PodTemplates bypass the watch cache, so a watch or list from a
		// compacted resourceVersion reaches etcd and gets 410 Gone at once:
		// tests force expiry with them. Every other resource is cached.
		"--watch-cache-sizes=podtemplates#0",
	}
	apiArgs = append(apiArgs, extra...)

	// The apiserver command installs the process's signal handler; its
	// context ends on SIGINT/SIGTERM and Execute returns after shutdown.
	cmd := apiserver.NewAPIServerCommand()
	cmd.SetArgs(apiArgs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var child atomic.Pointer[exec.Cmd] // set once the controller manager runs
	go func() {
		if err := waitReady(ctx, server, p); err != nil {
			fmt.Fprintln(os.Stderr, "testenv: apiserver never became ready:", err)
			os.Exit(1)
		}
		if *controllers != "" {
			c, err := startControllerManager(kubeconfig, p, *controllers)
			child.Store(c)
			if err != nil {
				fmt.Fprintln(os.Stderr, "testenv: controller-manager:", err)
				os.Exit(1)
			}
		}
		fmt.Printf("READY %s\n", kubeconfig)
	}()
	go func() {
		select {
		case err := <-etcd.Err():
			fmt.Fprintln(os.Stderr, "testenv: etcd failed:", err)
			os.Exit(1)
		case <-ctx.Done():
		}
	}()
	// A test control plane needs no graceful drain: on SIGINT/SIGTERM stop
	// the controller manager at once (its open watches would otherwise hold
	// the apiserver's shutdown for a minute), give the apiserver a moment,
	// then close etcd and exit. Acknowledged writes are in etcd's WAL.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	if *exitWithParent {
		// Polling the parent pid, not PR_SET_PDEATHSIG: the death signal
		// fires when the *thread* that started us exits, which kills the
		// control plane of any launcher that restarts it from a worker thread.
		parent := os.Getppid()
		go func() {
			for range time.Tick(500 * time.Millisecond) {
				if os.Getppid() != parent {
					signals <- syscall.SIGTERM
					return
				}
			}
		}()
	}
	go func() {
		<-signals
		stopChild(child.Load())
		time.Sleep(3 * time.Second)
		etcd.Close()
		os.Exit(0)
	}()
	runErr := cmd.Execute()
	cancel()
	stopChild(child.Load())
	return runErr
}

func stopChild(child *exec.Cmd) {
	if child == nil || child.Process == nil {
		return
	}
	_ = child.Process.Kill()
}

func startControllerManager(kubeconfig string, p pki, controllers string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := exec.Command(self, "controller-manager",
		"--kubeconfig="+kubeconfig,
		"--authentication-kubeconfig="+kubeconfig,
		"--authorization-kubeconfig="+kubeconfig,
		"--leader-elect=false",
		"--controllers="+controllers,
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--root-ca-file="+p.caCert,
		"--service-account-private-key-file="+p.saKey,
		"--use-service-account-credentials=false",
		"--concurrent-gc-syncs=5",
	)
	c.Stdout = os.Stderr
	c.Stderr = os.Stderr
	// The controller manager must never outlive us, even on SIGKILL.
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return c, c.Start()
}

func waitReady(ctx context.Context, server string, p pki) error {
	cert, err := tls.LoadX509KeyPair(p.adminCert, p.adminKey)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(p.caCert)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: pool, Certificates: []tls.Certificate{cert},
		}},
	}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		resp, err := client.Get(server + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("timed out after 3m")
}

type etcdPorts struct{ client, peer int }

func loadOrPickPorts(path string) (etcdPorts, error) {
	// etcd records its peer URL in its data directory, so a restart on the
	// same directory must use the same ports.
	if b, err := os.ReadFile(path); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			c, err1 := strconv.Atoi(f[0])
			pe, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil {
				return etcdPorts{c, pe}, nil
			}
		}
	}
	c, err := freePort()
	if err != nil {
		return etcdPorts{}, err
	}
	pe, err := freePort()
	if err != nil {
		return etcdPorts{}, err
	}
	ports := etcdPorts{c, pe}
	return ports, os.WriteFile(path, []byte(fmt.Sprintf("%d %d\n", c, pe)), 0o600)
}

func startEtcd(dir string, ports etcdPorts) (*embed.Etcd, string, error) {
	cfg := embed.NewConfig()
	cfg.Name = "testenv"
	cfg.Dir = dir
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = "error"
	cfg.QuotaBackendBytes = 8 << 30
	// Progress notifications let the apiserver's watch cache learn that
	// etcd's revision moved on (writes to other resources), which consistent
	// reads and the WatchList end-of-initial-events bookmark wait for.
	// Production etcd for Kubernetes runs with 5s; loopback can afford 1s.
	cfg.WatchProgressNotifyInterval = time.Second
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports.client)}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports.peer)}
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, "", fmt.Errorf("not ready after 60s")
	}
	return e, clientURL.String(), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
