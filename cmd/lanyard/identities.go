package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// The admin API's limit on PATCH /admin/identities (internal/identity).
const maxImportBatch = 2000

// identityCommands are Kratos's remote identity commands: import, list,
// get and delete, against the admin API at --endpoint.
func identityCommands() []*cobra.Command {
	importCmd := &cobra.Command{Use: "import", Short: "Import resources"}
	listCmd := &cobra.Command{Use: "list", Short: "List resources"}
	getCmd := &cobra.Command{Use: "get", Short: "Get resources"}
	deleteCmd := &cobra.Command{Use: "delete", Short: "Delete resources"}
	importCmd.AddCommand(importIdentitiesCommand())
	listCmd.AddCommand(listIdentitiesCommand())
	getCmd.AddCommand(getIdentityCommand())
	deleteCmd.AddCommand(deleteIdentityCommand())
	return []*cobra.Command{importCmd, listCmd, getCmd, deleteCmd}
}

// remoteFlags are the flags of every command that talks to the admin API.
type remoteFlags struct {
	endpoint string
	format   string
	quiet    bool
}

func (f *remoteFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.endpoint, "endpoint", "e", "", "the admin API's URL; else $LANYARD_ADMIN_URL or $KRATOS_ADMIN_URL")
	cmd.Flags().StringVarP(&f.format, "format", "f", "table", "output format: table, json or json-pretty")
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "print only ids, one per line")
}

func (f *remoteFlags) client() (*adminClient, error) {
	switch f.format {
	case "table", "json", "json-pretty":
	default:
		return nil, fmt.Errorf("--format: %q is not one of table, json, json-pretty", f.format)
	}
	endpoint := f.endpoint
	for _, env := range []string{"LANYARD_ADMIN_URL", "KRATOS_ADMIN_URL"} {
		if endpoint == "" {
			endpoint = os.Getenv(env)
		}
	}
	if endpoint == "" {
		return nil, errors.New("name the admin API: pass --endpoint or set LANYARD_ADMIN_URL (or KRATOS_ADMIN_URL), e.g. http://127.0.0.1:4434")
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the admin API's URL %q is not an http(s) URL", endpoint)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return &adminClient{base: u.String(), http: &http.Client{Timeout: 5 * time.Minute}}, nil
}

// writeJSON prints the API's JSON as it came, or indented.
func (f *remoteFlags) writeJSON(w io.Writer, raw json.RawMessage) error {
	if f.format == "json-pretty" {
		var b bytes.Buffer
		if err := json.Indent(&b, raw, "", "  "); err != nil {
			return err
		}
		raw = b.Bytes()
	}
	_, err := fmt.Fprintf(w, "%s\n", raw)
	return err
}

type adminClient struct {
	base string
	http *http.Client
}

// apiError is the admin API's error answer, {"error":{...}}.
type apiError struct {
	Code    int    `json:"code"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func (e *apiError) Error() string {
	msg := e.Message
	if e.Reason != "" && e.Reason != e.Message {
		msg = strings.TrimSuffix(msg, ".") + ": " + e.Reason
	}
	if e.Code != 0 {
		return fmt.Sprintf("%s (%d)", msg, e.Code)
	}
	return msg
}

// do sends a request and answers the body of a 2xx response; any other
// status is an error carrying the API's message.
func (c *adminClient) do(ctx context.Context, method, path string, body []byte) ([]byte, http.Header, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, err
	}
	if res.StatusCode/100 != 2 {
		var e struct {
			Error *apiError `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != nil {
			if e.Error.Code == 0 {
				e.Error.Code = res.StatusCode
			}
			return nil, nil, e.Error
		}
		return nil, nil, fmt.Errorf("%s %s: %s", method, path, res.Status)
	}
	return data, res.Header, nil
}

// identitySummary holds what the table shows of an identity.
type identitySummary struct {
	ID          string `json:"id"`
	State       string `json:"state"`
	SchemaID    string `json:"schema_id"`
	Credentials map[string]struct {
		Identifiers []string `json:"identifiers"`
	} `json:"credentials"`
	VerifiableAddresses []struct {
		Value string `json:"value"`
	} `json:"verifiable_addresses"`
	RecoveryAddresses []struct {
		Value string `json:"value"`
	} `json:"recovery_addresses"`
}

// identifier is the first identifier a person signs in with: the
// password's, else any credential's, else an address.
func (s identitySummary) identifier() string {
	if c, ok := s.Credentials["password"]; ok && len(c.Identifiers) > 0 {
		return c.Identifiers[0]
	}
	for _, typ := range []string{"code", "webauthn", "passkey", "oidc", "totp"} {
		if c, ok := s.Credentials[typ]; ok && len(c.Identifiers) > 0 {
			return c.Identifiers[0]
		}
	}
	if len(s.VerifiableAddresses) > 0 {
		return s.VerifiableAddresses[0].Value
	}
	if len(s.RecoveryAddresses) > 0 {
		return s.RecoveryAddresses[0].Value
	}
	return ""
}

func writeIdentityTable(w io.Writer, list []identitySummary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSCHEMA\tIDENTIFIER")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, s.State, s.SchemaID, s.identifier())
	}
	return tw.Flush()
}

func listIdentitiesCommand() *cobra.Command {
	var f remoteFlags
	var pageSize int
	var pageToken, consistency string
	cmd := &cobra.Command{
		Use:     "identities",
		Aliases: []string{"ls"},
		Short:   "List identities, one page at a time",
		Long: `List identities through the admin API, one page at a time. The table ends
with the token of the next page, if there is one; pass it to --page-token.`,
		// Kratos once took page and per-page as arguments; they are
		// accepted and ignored, as Kratos does now.
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 0 && len(args) != 2 {
				return fmt.Errorf("want no arguments, got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if pageSize < 1 || pageSize > 1000 {
				return fmt.Errorf("--page-size: %d is not between 1 and 1000", pageSize)
			}
			q := url.Values{"page_size": {strconv.Itoa(pageSize)}}
			if pageToken != "" {
				q.Set("page_token", pageToken)
			}
			if consistency != "" {
				q.Set("consistency", consistency)
			}
			body, header, err := c.do(cmd.Context(), http.MethodGet, "/admin/identities?"+q.Encode(), nil)
			if err != nil {
				return err
			}
			var list []identitySummary
			if err := json.Unmarshal(body, &list); err != nil {
				return fmt.Errorf("the admin API answered something else than a list of identities: %w", err)
			}
			out := cmd.OutOrStdout()
			next := nextPageToken(header.Values("Link"))
			switch {
			case f.quiet:
				for _, s := range list {
					fmt.Fprintln(out, s.ID)
				}
				return nil
			case f.format == "table":
				if err := writeIdentityTable(out, list); err != nil {
					return err
				}
				if next != "" {
					fmt.Fprintf(out, "\nNEXT PAGE TOKEN\t%s\n", next)
				}
				return nil
			default:
				return f.writeJSON(out, body)
			}
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&pageSize, "page-size", 100, "identities per page (1 to 1000)")
	cmd.Flags().StringVar(&consistency, "consistency", "", "read consistency, passed to the API as Kratos does (eventual or strong)")
	cmd.Flags().StringVar(&pageToken, "page-token", "", "the page to show, from the previous page")
	return cmd
}

// nextPageToken reads page_token off the Link header's rel="next".
func nextPageToken(links []string) string {
	for _, header := range links {
		for _, part := range strings.Split(header, ",") {
			target, params, ok := strings.Cut(part, ";")
			if !ok || !strings.Contains(params, `rel="next"`) {
				continue
			}
			u, err := url.Parse(strings.Trim(strings.TrimSpace(target), "<>"))
			if err == nil {
				return u.Query().Get("page_token")
			}
		}
	}
	return ""
}

func getIdentityCommand() *cobra.Command {
	var f remoteFlags
	var include []string
	cmd := &cobra.Command{
		Use:   "identity ID...",
		Short: "Show identities by id",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			query := ""
			if len(include) > 0 {
				query = "?" + url.Values{"include_credential": include}.Encode()
			}
			var raws []json.RawMessage
			var list []identitySummary
			var failed int
			for _, id := range args {
				body, _, err := c.do(cmd.Context(), http.MethodGet, "/admin/identities/"+url.PathEscape(id)+query, nil)
				if err != nil {
					failed++
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", id, err)
					continue
				}
				var s identitySummary
				if err := json.Unmarshal(body, &s); err != nil {
					return err
				}
				raws, list = append(raws, body), append(list, s)
			}
			out := cmd.OutOrStdout()
			switch {
			case f.quiet:
				for _, s := range list {
					fmt.Fprintln(out, s.ID)
				}
			case f.format == "table":
				if err := writeIdentityTable(out, list); err != nil {
					return err
				}
			case len(args) == 1 && len(raws) == 1:
				if err := f.writeJSON(out, raws[0]); err != nil {
					return err
				}
			default:
				all, _ := json.Marshal(raws)
				if err := f.writeJSON(out, all); err != nil {
					return err
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d identities could not be read", failed, len(args))
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringSliceVarP(&include, "include-credentials", "i", nil, "also show these credentials' configuration, e.g. oidc (repeatable)")
	return cmd
}

func deleteIdentityCommand() *cobra.Command {
	var f remoteFlags
	cmd := &cobra.Command{
		Use:   "identity ID...",
		Short: "Delete identities by id",
		Long:  "Delete identities, with their credentials and sessions, through the admin API. Prints each deleted id.",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var deleted []string
			var failed int
			for _, id := range args {
				if _, _, err := c.do(cmd.Context(), http.MethodDelete, "/admin/identities/"+url.PathEscape(id), nil); err != nil {
					failed++
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", id, err)
					continue
				}
				deleted = append(deleted, id)
			}
			out := cmd.OutOrStdout()
			if f.format == "table" || f.quiet {
				for _, id := range deleted {
					fmt.Fprintln(out, id)
				}
			} else {
				raw, _ := json.Marshal(deleted)
				if err := f.writeJSON(out, raw); err != nil {
					return err
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d identities could not be deleted", failed, len(args))
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func importIdentitiesCommand() *cobra.Command {
	var f remoteFlags
	var batchSize, parallel int
	cmd := &cobra.Command{
		Use:   "identities [FILE...]",
		Short: "Import identities from files of Kratos's identity JSON, or standard input",
		Long: `Create identities through the admin API from files holding Kratos's
CreateIdentityBody JSON: an object, an array of objects, or several of
either one after another (one per line works too). "-", or no file at
all, reads standard input. Credentials may carry hashed passwords of
every supported format.

Identities go in batches of --batch-size over --parallel connections; each
created id is printed on standard output, each failure on standard error
with where the identity came from. A failed identity does not stop the
others.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if len(args) == 0 {
				args = []string{"-"}
			}
			if batchSize < 1 || batchSize > maxImportBatch {
				return fmt.Errorf("--batch-size: %d is not between 1 and %d", batchSize, maxImportBatch)
			}
			if parallel < 1 || parallel > 64 {
				return fmt.Errorf("--parallel: %d is not between 1 and 64", parallel)
			}
			imp := &importer{
				client: c, out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr(),
				bar: newProgress(cmd.ErrOrStderr()), started: time.Now(),
			}
			created, failed, err := imp.run(cmd.Context(), cmd.InOrStdin(), args, batchSize, parallel)
			imp.bar.done()
			if err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%d identities failed to import, %d were created", failed, created)
			}
			return nil
		},
	}
	f.register(cmd)
	// Scripts written for Kratos pass these; the output is one id per line
	// whatever they say, which is what -q asks for.
	cmd.Flags().Lookup("format").Usage = "accepted as Kratos does; the output is always one created id per line"
	cmd.Flags().Lookup("quiet").Usage = "accepted as Kratos does; the output is always one created id per line"
	cmd.Flags().IntVar(&batchSize, "batch-size", 1000, fmt.Sprintf("identities per request (at most %d)", maxImportBatch))
	cmd.Flags().IntVar(&parallel, "parallel", 4, "requests in flight at once")
	return cmd
}

// importItem is one identity to create and where it came from.
type importItem struct {
	source string
	body   json.RawMessage
}

type importer struct {
	client      *adminClient
	out, errOut io.Writer
	bar         *progress
	started     time.Time

	created, failed atomic.Int64
}

func (imp *importer) run(parent context.Context, stdin io.Reader, files []string, batchSize, parallel int) (created, failed int64, err error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	batches := make(chan []importItem, parallel)
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				imp.send(ctx, b)
			}
		}()
	}

	readErr := func() error {
		defer close(batches)
		batch := make([]importItem, 0, batchSize)
		emit := func(it importItem) error {
			batch = append(batch, it)
			if len(batch) == batchSize {
				select {
				case batches <- batch:
				case <-ctx.Done():
					return ctx.Err()
				}
				batch = make([]importItem, 0, batchSize)
			}
			return nil
		}
		var err error
		for _, name := range files {
			if err = imp.readFile(name, stdin, emit); err != nil {
				break
			}
		}
		// What was read before a broken file still goes: every identity
		// read is either created or reported.
		if len(batch) > 0 && ctx.Err() == nil {
			batches <- batch
		}
		return err
	}()
	wg.Wait()
	if readErr == nil {
		readErr = parent.Err()
	}
	return imp.created.Load(), imp.failed.Load(), readErr
}

// readFile streams the identities of one file into emit, without holding
// the file in memory: a million identities are one array.
func (imp *importer) readFile(name string, stdin io.Reader, emit func(importItem) error) error {
	var r io.Reader
	label := name
	if name == "-" {
		r, label = stdin, "stdin"
	} else {
		fh, err := os.Open(name)
		if err != nil {
			return err
		}
		defer fh.Close()
		r = fh
	}
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<20))
	n := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: not JSON: %w", label, err)
		}
		switch tok {
		case json.Delim('['):
			for dec.More() {
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return fmt.Errorf("%s[%d]: not JSON: %w", label, n, err)
				}
				if err := imp.item(fmt.Sprintf("%s[%d]", label, n), raw, emit); err != nil {
					return err
				}
				n++
			}
			if _, err := dec.Token(); err != nil {
				return fmt.Errorf("%s: not JSON: %w", label, err)
			}
		case json.Delim('{'):
			// An object on its own: decode the rest of it.
			var rest map[string]json.RawMessage
			if err := decodeObjectRest(dec, &rest); err != nil {
				return fmt.Errorf("%s[%d]: not JSON: %w", label, n, err)
			}
			raw, _ := json.Marshal(rest)
			if err := imp.item(fmt.Sprintf("%s[%d]", label, n), raw, emit); err != nil {
				return err
			}
			n++
		default:
			imp.fail(fmt.Sprintf("%s[%d]", label, n), errors.New("not an identity: want a JSON object or an array of them"))
			n++
		}
	}
}

// decodeObjectRest reads the members of an object whose '{' the decoder
// has just returned, up to and including its '}'.
func decodeObjectRest(dec *json.Decoder, into *map[string]json.RawMessage) error {
	m := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return errors.New("object key expected")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		m[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	*into = m
	return nil
}

func (imp *importer) item(source string, raw json.RawMessage, emit func(importItem) error) error {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		imp.fail(source, errors.New("not an identity: want a JSON object"))
		return nil
	}
	return emit(importItem{source: source, body: raw})
}

func (imp *importer) fail(source string, err error) {
	imp.failed.Add(1)
	imp.bar.print(imp.errOut, fmt.Sprintf("%s: %v\n", source, err))
}

// send creates one batch. The answer lists, in order, an id or an error
// per identity; an error of the whole request fails all of them.
func (imp *importer) send(ctx context.Context, batch []importItem) {
	type entry struct {
		Create json.RawMessage `json:"create"`
	}
	body := struct {
		Identities []entry `json:"identities"`
	}{Identities: make([]entry, len(batch))}
	for k, it := range batch {
		body.Identities[k].Create = it.body
	}
	payload, err := json.Marshal(body)
	if err == nil {
		var data []byte
		data, _, err = imp.client.do(ctx, http.MethodPatch, "/admin/identities", payload)
		if err == nil {
			var answer struct {
				Identities []struct {
					Action   string    `json:"action"`
					Identity string    `json:"identity"`
					Error    *apiError `json:"error"`
				} `json:"identities"`
			}
			if err = json.Unmarshal(data, &answer); err == nil && len(answer.Identities) != len(batch) {
				err = fmt.Errorf("the admin API answered %d results for %d identities", len(answer.Identities), len(batch))
			}
			if err == nil {
				var ids strings.Builder
				for k, res := range answer.Identities {
					if res.Action == "create" && res.Identity != "" {
						imp.created.Add(1)
						ids.WriteString(res.Identity + "\n")
						continue
					}
					var e error = errors.New("not created")
					if res.Error != nil {
						e = res.Error
					}
					imp.fail(batch[k].source, e)
				}
				if ids.Len() > 0 {
					imp.bar.print(imp.out, ids.String())
				}
				imp.report()
				return
			}
		}
	}
	if ctx.Err() != nil {
		// Interrupted: the reader reports it once, not per identity.
		imp.failed.Add(int64(len(batch)))
		return
	}
	for _, it := range batch {
		imp.fail(it.source, err)
	}
	imp.report()
}

func (imp *importer) report() {
	created, failed := imp.created.Load(), imp.failed.Load()
	rate := float64(created) / max(time.Since(imp.started).Seconds(), 0.001)
	imp.bar.status(fmt.Sprintf("%d imported, %d failed, %.0f identities/s", created, failed, rate))
}
