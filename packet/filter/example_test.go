package filter_test

import (
	"fmt"

	"github.com/ctswitch/ctswitch/packet/filter"
)

func ExampleCompile() {
	f, err := filter.Compile("gre && inner(tcp dport 22 && tcp-syn)")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f)

	_, err = filter.Compile("ip && port ssh")
	fmt.Println(err)
	// Output:
	// gre and inner (tcp dst port 22 and tcp-syn)
	// filter: column 12: expected a port number after "port", got "ssh"
}
