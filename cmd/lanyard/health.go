package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// defaultHealthEndpoint is where a container's own server listens by
// default; images built FROM scratch have no curl, so their health
// check runs this binary.
const defaultHealthEndpoint = "http://127.0.0.1:4434"

func healthCommand() *cobra.Command {
	var endpoint string
	var alive bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 if a running server answers /health/ready (for container health checks)",
		Long: `Ask a running server whether it is ready: GET <endpoint>/health/ready
(or /health/alive with --alive). Exits 0 on 200 OK and 1 otherwise, so that
it can be a container's health check where there is no curl or wget.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			probe := "ready"
			if alive {
				probe = "alive"
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := checkHealth(ctx, healthEndpoint(endpoint), probe); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok")
			return nil
		},
	}
	cmd.Flags().StringVarP(&endpoint, "endpoint", "e", "", "the server's URL (admin or public); else $LANYARD_ADMIN_URL, $KRATOS_ADMIN_URL or "+defaultHealthEndpoint)
	cmd.Flags().BoolVar(&alive, "alive", false, "ask /health/alive (the process answers) instead of /health/ready (the database answers too)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	return cmd
}

func healthEndpoint(flag string) string {
	if flag != "" {
		return flag
	}
	for _, env := range []string{"LANYARD_ADMIN_URL", "KRATOS_ADMIN_URL"} {
		if v := os.Getenv(env); v != "" {
			return v
		}
	}
	return defaultHealthEndpoint
}

// checkHealth returns nil only when GET <endpoint>/health/<probe> answers 200.
func checkHealth(ctx context.Context, endpoint, probe string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("the endpoint %q is not an http(s) URL", endpoint)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/health/" + probe
	u.RawQuery, u.Fragment, u.User = "", "", nil
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	// A health check must not follow a redirect to some other server.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("%s: not answering: %w", u, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	return nil
}
