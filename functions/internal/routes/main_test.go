package routes_test

import (
	"os"
	"testing"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
)

// TestMain gives every test of this package the throwaway PostgreSQL (pgtest).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
