package tornet

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// RSS returns the resident memory of the given processes in bytes, summed
// from /proc/PID/status. Processes that no longer exist count as zero.
func RSS(pids []int) int64 {
	var total int64
	for _, pid := range pids {
		f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// VmRSS:	   47104 kB
			if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				f := strings.Fields(rest)
				if len(f) != 2 || f[1] != "kB" {
					continue
				}
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					total += kb << 10
				}
			}
		}
		f.Close()
	}
	return total
}
