// Prints reference shard hashes and selectors computed by k8s.io/apimachinery
// v0.37.2 pkg/sharding (the code the API server filters with), as JSON, for
// tests/unit/cache/test_sharding.py. Regenerate with:
//
//	cd tests/unit/cache/shardvectors && GOFLAGS=-mod=mod GOPROXY=off go run . > vectors.json
package main

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"

	"k8s.io/apimachinery/pkg/sharding"
	apiserversharding "k8s.io/apiserver/pkg/sharding"
)

type vector struct {
	Value string `json:"value"`
	Hash  string `json:"hash"`
}

type matchCase struct {
	Value    string `json:"value"`
	Start    string `json:"start"`
	End      string `json:"end"`
	Selector string `json:"selector"`
	Matches  bool   `json:"matches"`
}

func main() {
	values := []string{
		"", "a", "abc", "test", "test-uid-12345", "test-uid-123",
		"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "default", "kube-system", "prod",
		"0b1e7c2a-51d4-4a39-9d3e-0c3f6f1e2a77", "ünïcødé",
	}
	for i := 0; i < 40; i++ {
		values = append(values, fmt.Sprintf("ns-%d", i), fmt.Sprintf("%08x-0000-4000-8000-%012x", i*7919, i*104729))
	}
	out := struct {
		Hashes  []vector    `json:"hashes"`
		Matches []matchCase `json:"matches"`
		// Per shard count, the selector of each of its equal ranges, each
		// checked with the API server's own parser.
		Selectors map[string][]string `json:"selectors"`
	}{Selectors: map[string][]string{}}
	space := new(big.Int).Lsh(big.NewInt(1), 64)
	bound := func(v *big.Int) string {
		if v.Cmp(space) == 0 {
			return "0x10000000000000000"
		}
		return fmt.Sprintf("0x%016x", v)
	}
	for _, count := range []int64{1, 2, 3, 5, 7, 12, 16, 100} {
		var sels []string
		for i := int64(0); i < count; i++ {
			// ceil(i * 2^64 / count)
			ceil := func(i int64) *big.Int {
				n := new(big.Int).Mul(big.NewInt(i), space)
				n.Add(n, big.NewInt(count-1))
				return n.Div(n, big.NewInt(count))
			}
			sel := fmt.Sprintf("shardRange(object.metadata.uid, '%s', '%s')", bound(ceil(i)), bound(ceil(i+1)))
			parsed, err := apiserversharding.Parse(sel)
			if err != nil || parsed.String() != sel {
				panic(fmt.Sprintf("%s: %v", sel, err))
			}
			sels = append(sels, sel)
		}
		out.Selectors[fmt.Sprint(count)] = sels
	}
	for _, v := range values {
		out.Hashes = append(out.Hashes, vector{v, "0x" + sharding.HashField(v)})
	}
	// 4 and 3 equal ranges (the 3-way bounds are ceilings, as kubeloop computes them).
	bounds := [][2]string{
		{"0x0000000000000000", "0x4000000000000000"},
		{"0x4000000000000000", "0x8000000000000000"},
		{"0x8000000000000000", "0xc000000000000000"},
		{"0xc000000000000000", "0x10000000000000000"},
		{"0x0000000000000000", "0x5555555555555556"},
		{"0x5555555555555556", "0xaaaaaaaaaaaaaaab"},
		{"0xaaaaaaaaaaaaaaab", "0x10000000000000000"},
	}
	for _, v := range values {
		for _, b := range bounds {
			sel := sharding.NewSelector(sharding.ShardRangeRequirement{Key: "object.metadata.uid", Start: b[0], End: b[1]})
			hash := "0x" + sharding.HashField(v)
			m := !sharding.HexLess(hash, b[0]) && sharding.HexLess(hash, b[1])
			out.Matches = append(out.Matches, matchCase{v, b[0], b[1], sel.String(), m})
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}
