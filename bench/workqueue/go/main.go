// Command bench-workqueue measures client-go's workqueue with the same
// workloads as bench/workqueue/bench_workqueue.py, and prints one JSON object
// per line so the Python script can put both stacks side by side.
//
// Workloads (one "item" = one Add, one Get and one Done):
//   - single: one goroutine; per item Add, Get, Done, cycling over 100 keys
//     (client-go's BenchmarkQueue).
//   - 4p4c: 4 producers Add distinct keys, 4 consumers Get and Done until the
//     queue is drained and shut down.
//
// Metrics "on" is a named queue with component-base's Prometheus provider
// (what a kube controller binary uses); "off" is an unnamed queue.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
	// Installs the Prometheus metrics provider for named queues.
	_ "k8s.io/component-base/metrics/prometheus/workqueue"
)

type result struct {
	Stack       string  `json:"stack"`
	Workload    string  `json:"workload"`
	Metrics     bool    `json:"metrics"`
	Items       int     `json:"items"`
	ItemsPerSec float64 `json:"items_per_sec"`
	Repetitions int     `json:"repetitions"`
	GoMaxProcs  int     `json:"gomaxprocs"`
	GoVersion   string  `json:"go_version"`
}

var queueSeq int

func newQueue(metrics bool) *workqueue.Typed[string] {
	name := ""
	if metrics {
		// A fresh name per queue, so one run's depth does not leak into the next.
		queueSeq++
		name = fmt.Sprintf("bench-%d", queueSeq)
	}
	return workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[string]{Name: name})
}

func single(n int, metrics bool) time.Duration {
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	q := newQueue(metrics)
	defer q.ShutDown()
	start := time.Now()
	for i := 0; i < n; i++ {
		q.Add(keys[i%100])
		key, _ := q.Get()
		q.Done(key)
	}
	return time.Since(start)
}

func producersConsumers(n int, metrics bool) time.Duration {
	const producers, consumers = 4, 4
	keys := make([][]string, producers)
	for p := range keys {
		keys[p] = make([]string, n/producers)
		for i := range keys[p] {
			keys[p][i] = fmt.Sprintf("ns-%d/key-%d", p, i)
		}
	}
	q := newQueue(metrics)
	var prodWG, consWG sync.WaitGroup
	start := time.Now()
	for c := 0; c < consumers; c++ {
		consWG.Add(1)
		go func() {
			defer consWG.Done()
			for {
				key, shutdown := q.Get()
				if shutdown {
					return
				}
				q.Done(key)
			}
		}()
	}
	for p := 0; p < producers; p++ {
		prodWG.Add(1)
		go func(p int) {
			defer prodWG.Done()
			for _, key := range keys[p] {
				q.Add(key)
			}
		}(p)
	}
	prodWG.Wait()
	q.ShutDownWithDrain()
	consWG.Wait()
	return time.Since(start)
}

// measure grows n until one run takes minTime, then keeps the best of reps runs.
func measure(run func(int, bool) time.Duration, metrics bool, minTime time.Duration, reps int) (int, float64) {
	n := 10000
	for {
		elapsed := run(n, metrics)
		if elapsed >= minTime || n >= 1<<24 {
			break
		}
		grow := float64(minTime) / float64(elapsed+1) * 1.2
		if grow > 10 {
			grow = 10
		}
		n = int(float64(n) * grow)
	}
	n -= n % 4
	best := 0.0
	for r := 0; r < reps; r++ {
		rate := float64(n) / run(n, metrics).Seconds()
		if rate > best {
			best = rate
		}
	}
	return n, best
}

func main() {
	minTime := flag.Duration("min-time", 500*time.Millisecond, "minimum duration of one measured run")
	reps := flag.Int("reps", 3, "measured runs per figure (best is reported)")
	flag.Parse()

	enc := json.NewEncoder(os.Stdout)
	workloads := []struct {
		name string
		run  func(int, bool) time.Duration
	}{{"single", single}, {"4p4c", producersConsumers}}
	for _, w := range workloads {
		for _, metrics := range []bool{false, true} {
			n, rate := measure(w.run, metrics, *minTime, *reps)
			if err := enc.Encode(result{
				Stack: "client-go", Workload: w.name, Metrics: metrics, Items: n,
				ItemsPerSec: rate, Repetitions: *reps,
				GoMaxProcs: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
			}); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	}
}
