package main

// The harness's writer (-write create|update): creates Networks
// net-000000..net-<count-1> or patches each one's spec.gateway, from many
// goroutines, as fast as the API server takes them. In Go so that the
// writes leave the API server and the peer under test as much of the
// machine's CPU as possible (a Python writer needs ~3 ms of CPU per request).

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

func networkSpec(i, octet int) (name, cidr, gateway string) {
	// 10.0.0.0/24 upwards, one /24 each; past 65,536 Networks on into 11.x.y.
	prefix := fmt.Sprintf("%d.%d.%d", 10+i/65536, i/256%256, i%256)
	return fmt.Sprintf("net-%06d", i), prefix + ".0/24", fmt.Sprintf("%s.%d", prefix, octet)
}

func write(dyn dynamic.Interface, namespace, mode string, from, count, octet, writers int) error {
	res := dyn.Resource(gvr).Namespace(namespace)
	next := int64(from - 1)
	var mu sync.Mutex // guards failed and firstErr
	failed, firstErr := 0, error(nil)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(atomic.AddInt64(&next, 1))
				if i >= count {
					return
				}
				name, cidr, gw := networkSpec(i, octet)
				var err error
				if mode == "create" {
					obj := &unstructured.Unstructured{Object: map[string]interface{}{
						"apiVersion": "samplecrd.k8s.io/v1",
						"kind":       "Network",
						"metadata":   map[string]interface{}{"name": name},
						"spec":       map[string]interface{}{"cidr": cidr, "gateway": gw},
					}}
					_, err = res.Create(context.Background(), obj, metav1.CreateOptions{})
					if apierrors.IsAlreadyExists(err) {
						err = nil
					}
				} else {
					patch := fmt.Sprintf(`{"spec":{"gateway":%q}}`, gw)
					_, err = res.Patch(context.Background(), name, types.MergePatchType,
						[]byte(patch), metav1.PatchOptions{})
				}
				if err != nil {
					mu.Lock()
					if failed++; firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "%d writes failed, first: %v\n", failed, firstErr)
		return fmt.Errorf("%d writes failed", failed)
	}
	return nil
}
