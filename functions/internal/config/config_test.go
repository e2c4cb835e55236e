package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoadNamesEveryMissingRequiredVariable(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("ACTION_SECRET", "")
	_, err := Load()
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || !strings.Contains(err.Error(), "ACTION_SECRET") {
		t.Fatalf("err = %v; want both names", err)
	}
	t.Setenv("DATABASE_URL", "postgres://x")
	_, err = Load()
	if err == nil || strings.Contains(err.Error(), "DATABASE_URL") || !strings.Contains(err.Error(), "ACTION_SECRET") {
		t.Fatalf("err = %v; want only ACTION_SECRET", err)
	}
}

func TestLoadNeedsOnlyTheTwoRequiredVariables(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://x")
	t.Setenv("ACTION_SECRET", "s")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != "8080" || c.ShutdownTimeout != 25*time.Second || c.MaxBodyBytes != 262144 {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestLoadRefusesMalformedValues(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://x")
	t.Setenv("ACTION_SECRET", "s")
	t.Setenv("SHUTDOWN_TIMEOUT", "soon")
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "SHUTDOWN_TIMEOUT") {
		t.Fatalf("err = %v; want one naming SHUTDOWN_TIMEOUT", err)
	}
}

func TestLoadReadsThePreviousSecretsOfARotation(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://x")
	t.Setenv("ACTION_SECRET", "new")
	t.Setenv("ACTION_SECRET_PREVIOUS", "old")
	t.Setenv("MEMBER_QR_SECRET_PREVIOUS", "old-qr")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.ActionSecret != "new" || c.ActionSecretPrevious != "old" || c.MemberQRSecretPrevious != "old-qr" {
		t.Fatalf("got %+v", c)
	}
}
