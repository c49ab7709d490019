package main

import (
	"testing"

	"github.com/openmicro/examples/internal/proctest"
)

func TestMain(m *testing.M) { proctest.Main(m) }
