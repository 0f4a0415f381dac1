package sim

import "testing"

// regressions are the sequences the simulation found, shrunk, each a table test: under the
// rules of 2026-12 (lifecycle.RulesSeams) every one replays, settles and ends with every
// invariant holding. Where legacy names an invariant, the rules before 2026-12 broke it
// with the same sequence (and still do: the test would lose its teeth otherwise).
var regressions = []struct {
	name, legacy, actions string
}{
	// Clocks: a wait without a clock.
	{"a service nobody delivers waits for ever with no flag", "clocks", `place c=1 v=3304`},
	{"hardware nobody ships waits for ever with no flag", "clocks", `place c=0 v=2593`},
	{"the last appeal tier has no SLA", "clocks", `place c=1 v=3115 | update o=0 ev=appeal v=3444 | next v=2 | next v=1`},
	{"the last appeal tier has no SLA over a failed provisioning", "clocks",
		`place c=1 v=1650 | update o=0 ev=appeal v=888 | next v=1 | next v=2 | answer o=0 v=4089 out=gone`},
	{"the last appeal tier has no SLA over a deployment", "clocks", `place c=0 v=2657 | update o=0 ev=appeal v=2311 | advance d=960h0m0s`},
	{"an appealed deployment past its SLA waits unflagged", "clocks", `place c=1 v=1887 | next v=2 | update o=0 ev=appeal v=3468`},
	{"an appealed rejection waits without its redelivery clock", "clocks",
		`place c=1 v=3096 | update o=0 ev=license v=3956 | update o=0 ev=reject v=1520 | next v=1 | update o=0 ev=appeal v=2120`},
	{"a licence delivered by callback, then newInstance lost: back to provisioning for ever", "clocks",
		`place c=1 v=1481 | update o=0 ev=license v=1232 | answer o=0 v=966 out=lost | update o=0 ev=retry v=3300 | answer o=0 v=1977 out=ok | next v=2 | answer o=0 v=1995 out=ok | update o=0 ev=appeal v=4012`},
	{"a redeployment that stalls has no clock", "",
		`place c=0 v=907 | update o=0 ev=deploy v=12 | update o=0 ev=deploy v=88 | update o=0 ev=deploy v=56 | update o=0 ev=reject v=708`},
	{"the last tier's flag, cleared at the resolution, took the shipment SLA's flag with it", "",
		`place c=1 v=3728 | next | advance d=1h0m0s | update o=0 ev=appeal v=1324 | next v=1 | next v=2 | next v=1`},

	// Cases: an order ended with an appeal open or a call running.
	{"an unsupervised order completes while its appeal is open", "cases", `place c=1 v=3010 | update o=0 ev=appeal v=4012`},
	{"an appeal open at unsubscription is orphaned by the release", "cases",
		`place c=0 v=3755 | answer o=0 v=1021 out=ok | update o=0 ev=unsubscribe v=1000 | update o=0 ev=appeal v=856`},
	{"an appeal opened while the release runs is orphaned", "cases",
		`place c=0 v=3320 | answer o=0 v=750 out=ok | update o=0 ev=unsubscribe v=4024 | update o=0 ev=appeal v=1044`},
	{"an appeal open at expiry's release is orphaned", "cases",
		`place c=1 v=3306 | answer o=0 v=3434 out=ok | next v=1 | next v=2 | answer o=0 v=163 out=lost | next v=2 | answer o=0 v=535 out=ok | next v=1 | update o=0 ev=appeal v=2500`},
	{"a retry while newInstance still runs starts a second one the order never waits for", "cases",
		`place c=0 v=691 | next v=1 | next v=1 | update o=0 ev=retry v=1232 | answer o=0 v=2245 out=refused | next v=2`},
	{"a refund's clean-up starts a release that is already running", "cases",
		`place c=0 v=3731 | advance d=24h0m0s | update o=0 ev=retry v=784 | advance d=24h0m0s | next v=2`},
	{"a lost newInstance after a retry: two releases, the workflow ends before the second", "cases",
		`place c=0 v=2846 | advance d=72h0m0s | update o=0 ev=retry v=3920 | answer o=0 v=67 out=lost | next v=2`},

	{"an appeal that outlives the order shows it waiting on nobody (found in the Temporal UI, then by the simulation)", "",
		`place c=0 v=195 | answer o=0 v=3133 out=ok | update o=0 ev=unsubscribe v=4020 | update o=0 ev=appeal v=4020`},

	// Holds.
	{"a freeze told while a new arrears case began lists the orders of before: an order placed in between is never held", "",
		`place c=1 v=1817 | arrears c=1 v=3152 | advance d=240h0m0s | level c=1 v=1667 | next v=1 | level c=1 v=2574 | pay c=1 v=220 | tell c=1 | arrears c=1 v=4069 | level c=1 v=1850 | place c=1 v=598 | advance d=960h0m0s`},

	// Ops (found while the ops rules were written).
	{"a retry of a failed production with provisioning late: one newInstance, not two", "",
		`place c=1 v=3891 | advance d=24h0m0s | answer o=0 v=1797 out=failed`},

	{"a retry of a licence never delivered while queryInstance still polled: a second newInstance held up the arrears FREEZE", "",
		`arrears c=1 v=3681 | place c=1 v=2421 | level c=1 v=2825 | answer o=0 v=3624 out=ok | next v=2 | answer o=0 v=810 out=lost | place c=1 v=3156 | next v=1 | answer o=1 v=1449 out=pending | update o=0 ev=unsubscribe v=3960 | next v=2 | next v=1 | update o=1 ev=retry v=424 | level c=1 v=1713 | answer o=1 v=2569 out=ok | update o=1 ev=accept v=2820 | tell c=1 | tell c=1`},
	{"a renewal of a converted trial without an amount posted a line of nothing, which a statement paid out twice", "",
		`place c=1 v=2222 | update o=0 ev=appeal v=1528 | update o=0 ev=resolve v=688 | update o=0 ev=convert v=1992 | update o=0 ev=renew v=3088 | update o=0 ev=appeal v=3228 | update o=0 ev=resolve v=1904`},

	{"a free change refunded by an appeal: the statement paid the line of nothing out twice", "",
		`place c=0 v=2521 | update o=0 ev=license v=452 | advance d=240h0m0s | answer o=0 v=2205 out=ok | update o=0 ev=change v=3208 | answer o=0 v=3502 out=ok | update o=0 ev=appeal v=636 | update o=0 ev=resolve v=2900`},

	// Money.
	{"a renewal before acceptance posts a payable line", "money", `place c=0 v=1380 | update o=0 ev=renew v=860`},
	{"a renewal (at the order's amount) before acceptance posts a payable line", "money", `place c=0 v=2282 | update o=0 ev=renew v=400`},
	{"a statement pays out an order whose appeal is open", "money",
		`place c=1 v=562 | update o=0 ev=appeal v=2868 | update o=0 ev=resolve v=2260 | update o=0 ev=appeal v=680 | statement`},
	{"usage stored after an appeal refunded the order is charged and paid out", "money",
		`place c=0 v=2955 | answer o=0 v=438 out=ok | update o=0 ev=appeal v=928 | update o=0 ev=resolve v=704 | usage o=0 v=4017 d=129h0m0s`},
	{"an appeal refund after an unsubscription refund refunds the same money twice", "money",
		`place c=0 v=2540 | answer o=0 v=1886 out=ok | update o=0 ev=unsubscribe v=412 | update o=0 ev=appeal v=2400 | update o=0 ev=resolve v=2204`},
	{"usage of an order not in service yet is charged and paid out before acceptance", "money",
		`place c=1 v=3436 | update o=0 ev=appeal v=1888 | answer o=0 v=3115 out=ok | update o=0 ev=resolve v=164 | usage o=0 v=1501 d=204h0m0s`},
	{"a licence by callback, then newInstance failing: the accepted order fails, is retried and posted twice", "money",
		`place c=0 v=3836 | update o=0 ev=license v=780 | answer o=0 v=1649 out=failed`},

	// Holds.
	{"a freeze misses an order still provisioning", "holds",
		`arrears c=0 v=3951 | level c=0 v=3880 | next | place c=0 v=1295 | next v=1 | level c=0 v=738 | tell c=0`},
	{"a freeze misses an order whose provisioning failed", "holds", `arrears c=0 v=3321 | level c=0 v=2088 | place c=0 v=416 | next v=1 | next v=2`},
	{"a freeze misses an order awaiting acceptance", "holds", `arrears c=0 v=3906 | place c=0 v=1915 | level c=0 v=324`},
	{"a freeze misses an order being deployed", "holds", `arrears c=0 v=1889 | place c=0 v=1137 | level c=0 v=2655`},
}

func TestRegressions(t *testing.T) {
	for _, r := range regressions {
		t.Run(r.name, func(t *testing.T) {
			actions, err := ParseAll(splitBars(r.actions))
			if err != nil {
				t.Fatal(err)
			}
			if v, at := Replay(Config{}, actions); v != nil {
				t.Errorf("at action %d: %s", at, v)
				Trace(Config{}, actions, func(line string) { t.Log(line) })
			}
			if r.legacy == "" {
				return
			}
			if v, _ := Replay(Config{Legacy: true}, actions); v == nil || v.Invariant != r.legacy {
				t.Errorf("the rules before 2026-12 should break %s with this sequence, got %v: the test has lost its teeth", r.legacy, v)
			}
		})
	}
}

// splitBars turns "a | b | c" into lines.
func splitBars(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c == '|' {
			out[i] = '\n'
		}
	}
	return string(out)
}
