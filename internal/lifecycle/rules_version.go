package lifecycle

// Generations of the order's rules (State.Rules). An order runs under the rules of the
// generation it was placed in, and carries it in the state across continue-as-new: since
// 2026-12-07 the API puts RulesCurrent in the start input (order.StartInput.Rules), and the
// workflow takes it from there; orders placed before read it once, when they started, from
// version markers (orderflow.ChangeSeams, ChangeOps). Orders placed before a generation
// existed replay, and go on, exactly as they were. A new generation is a new constant here
// and RulesCurrent moved to it: no marker is needed.
const (
	// RulesLegacy: the rules before 2026-12.
	RulesLegacy = 0
	// RulesSeams: the rules of 2026-12, where features meet (issue 13): an appeal outlives
	// billing; nothing is paid before acceptance or while an appeal is open; arrears holds
	// reach every pay-per-use order whatever its phase; validity counts from acceptance or
	// the seller's actual open time; every wait has a clock or is flagged; appeals are
	// capped; hardware's acceptance window counts from the carrier's signedAt.
	RulesSeams = 1
	// RulesOps: the rules of ops' case handling (issue 16): every flag says its cause and
	// since when; a failed production is flagged; a seller call failing on our side past
	// the policy's window is flagged; the current cause is a search attribute.
	RulesOps = 2
	// RulesCurrent is the generation new orders start with.
	RulesCurrent = RulesOps
)

// rules reports whether the order runs under generation g or a later one.
func (s *State) rules(g int) bool { return s.Rules >= g }
