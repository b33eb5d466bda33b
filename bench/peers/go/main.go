// Go peer for bench/run.py: the sample-controller pattern on Networks with
// client-go's dynamic informer (Networks are a CRD; no generated clientset),
// a rate-limited workqueue and N workers. The reconcile reads the object from
// the lister and compares it with an in-memory no-op backend, as the kubeloop
// controller does with --backend noop --no-api-writes.
//
// Prints to stdout, one line each, for the harness to time:
//
//	synced              once the informer cache has synced
//	reconciled <key>    after every successful reconcile
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/workqueue"
)

var gvr = schema.GroupVersionResource{Group: "samplecrd.k8s.io", Version: "v1", Resource: "networks"}

type actual struct{ cidr, gateway, uid string }

type controller struct {
	lister  cache.GenericLister
	queue   workqueue.TypedRateLimitingInterface[string]
	mu      sync.Mutex // guards backend and out
	backend map[string]actual
	out     *bufio.Writer
}

func (c *controller) reconcile(key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	obj, err := c.lister.ByNamespace(ns).Get(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		delete(c.backend, key)
	} else {
		u := obj.(*unstructured.Unstructured)
		cidr, _, _ := unstructured.NestedString(u.Object, "spec", "cidr")
		gw, _, _ := unstructured.NestedString(u.Object, "spec", "gateway")
		want := actual{cidr, gw, string(u.GetUID())}
		if have, ok := c.backend[key]; !ok || have != want {
			c.backend[key] = want
		}
	}
	fmt.Fprintf(c.out, "reconciled %s\n", key)
	return c.out.Flush()
}

func (c *controller) worker() {
	for {
		key, shutdown := c.queue.Get()
		if shutdown {
			return
		}
		if err := c.reconcile(key); err != nil {
			c.queue.AddRateLimited(key)
		} else {
			c.queue.Forget(key)
		}
		c.queue.Done(key)
	}
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig path")
	namespace := flag.String("namespace", "", "namespace to watch")
	workers := flag.Int("workers", 2, "workers")
	mode := flag.String("write", "", "harness writer: create or update, then exit")
	from := flag.Int("from", 0, "-write: first object index")
	count := flag.Int("count", 0, "-write: objects up to this index (exclusive)")
	octet := flag.Int("gateway-octet", 1, "-write: last octet of every gateway")
	writers := flag.Int("writers", 64, "-write: concurrent requests")
	flag.Parse()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		panic(err)
	}
	cfg.QPS, cfg.Burst = 1e6, 1e6 // no client-side throttle, as for every peer
	dyn := dynamic.NewForConfigOrDie(cfg)
	if *mode != "" {
		if err := write(dyn, *namespace, *mode, *from, *count, *octet, *writers); err != nil {
			os.Exit(1)
		}
		return
	}
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, *namespace, nil)
	informer := factory.ForResource(gvr)
	c := &controller{
		lister:  informer.Lister(),
		queue:   workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		backend: map[string]actual{},
		out:     bufio.NewWriter(os.Stdout),
	}
	enqueue := func(obj interface{}) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, new interface{}) {
			if old.(*unstructured.Unstructured).GetResourceVersion() ==
				new.(*unstructured.Unstructured).GetResourceVersion() {
				return
			}
			enqueue(new)
		},
		DeleteFunc: func(obj interface{}) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.queue.Add(key)
			}
		},
	})

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.Informer().HasSynced) {
		os.Exit(1)
	}
	c.mu.Lock()
	fmt.Fprintln(c.out, "synced")
	c.out.Flush()
	c.mu.Unlock()
	for i := 0; i < *workers; i++ {
		go c.worker()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	time.Sleep(10 * time.Millisecond)
}
