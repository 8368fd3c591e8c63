//! `docs/matching.md`, section by section: each test is named after its section number.

use crate::{dir, list, outcome, run, s, user};
use crossmap_match::{Config, MAX_CANDIDATES, MatchError, Outcome, Rule, Status, Unknown, Warning, match_directories};
use crossmap_model::Guid;
use crossmap_model::Patch;
use crossmap_test_support::directories::group;

fn matched(rule: &str, target: &str) -> (Status, Option<String>, Option<String>) {
    (Status::Matched, Some(rule.to_owned()), Some(target.to_owned()))
}

fn config(domains: &[&str]) -> Config {
    let mut c = Config::new();
    for d in domains {
        c.map_domain_arg(d).unwrap();
    }
    c
}

#[test]
fn s1_values_are_compared_trimmed_and_lower_cased() {
    let src = [user(1, "ann@a.com", |u| u.employee_id = s(" E1 "))];
    let tgt = [user(2, "x@b.com", |u| u.employee_id = s("e1"))];
    run(&src, &tgt, &Config::new(), |m| {
        assert_eq!(outcome(m, "ann@a.com"), matched("employeeId", "x@b.com"));
    });
}

#[test]
fn s1_empty_values_share_nothing() {
    let src = [user(1, "ann@a.com", |u| u.employee_id = s("  "))];
    let tgt = [user(2, "x@b.com", |u| u.employee_id = s(""))];
    run(&src, &tgt, &Config::new(), |m| {
        assert_eq!(outcome(m, "ann@a.com").0, Status::Unmatched);
    });
}

#[test]
fn s1_only_smtp_proxy_addresses_are_addresses() {
    let src = [
        user(1, "ann@a.com", |u| {
            u.proxy_addresses = list(&["SIP:ann@x.com", "x500:/o=a/cn=ann"])
        }),
        user(3, "bob@a.com", |u| u.proxy_addresses = list(&["smtp:Bob@X.com"])),
    ];
    let tgt = [
        user(2, "t1@b.com", |u| u.mail = s("ann@x.com")),
        user(4, "t2@b.com", |u| u.other_mails = list(&["bob@x.com"])),
    ];
    run(&src, &tgt, &Config::new(), |m| {
        assert_eq!(outcome(m, "ann@a.com").0, Status::Unmatched);
        assert_eq!(outcome(m, "bob@a.com"), matched("email", "t2@b.com"));
    });
}

#[test]
fn s2_disabled_sources_are_excluded_unless_asked_for() {
    let src = [user(1, "ann@a.com", |u| {
        u.account_enabled = Patch::Value(false);
        u.employee_id = s("e1");
    })];
    let tgt = [user(2, "x@b.com", |u| u.employee_id = s("e1"))];
    run(&src, &tgt, &Config::new(), |m| {
        assert_eq!(
            outcome(m, "ann@a.com"),
            (Status::Excluded, Some("accountEnabled".into()), None)
        );
    });
    let mut c = Config::new();
    c.include_disabled(true);
    run(&src, &tgt, &c, |m| {
        assert_eq!(outcome(m, "ann@a.com"), matched("employeeId", "x@b.com"))
    });
}

#[test]
fn s2_excluded_sources_do_not_compete_and_targets_are_never_excluded() {
    // The departed John Smith shares the employee id; he is out, so the current one matches.
    let src = [
        user(1, "john.old@a.com", |u| {
            u.account_enabled = Patch::Value(false);
            u.employee_id = s("7");
        }),
        user(3, "john@a.com", |u| u.employee_id = s("7")),
    ];
    let tgt = [user(2, "john@b.com", |u| {
        u.employee_id = s("7");
        u.account_enabled = Patch::Value(false); // pre-staged, disabled until cut-over
    })];
    run(&src, &tgt, &Config::new(), |m| {
        assert_eq!(outcome(m, "john@a.com"), matched("employeeId", "john@b.com"));
    });
}

#[test]
fn s2_exclusion_patterns_on_upns_and_group_names_and_unused_ones_are_warned() {
    let src_users = [user(1, "SVC-backup@a.com", |_| {}), user(3, "ann@a.com", |_| {})];
    let src_groups = [group(10, "Old Sales", "oldsales", false), group(11, "HR", "hr", false)];
    let (sd, td) = (dir(1, &src_users, &src_groups), dir(2, &[], &[]));
    let mut c = Config::new();
    c.exclude("svc-*@a.com").unwrap();
    c.exclude("old*").unwrap();
    c.exclude("nothing-*").unwrap();
    let m = match_directories(&sd, &td, &c).unwrap();
    assert_eq!(
        outcome(&m, "svc-backup@a.com"),
        (Status::Excluded, Some("exclude".into()), None)
    );
    assert_eq!(outcome(&m, "ann@a.com").0, Status::Unmatched);
    let g: Vec<_> = m.groups().map(|r| r.status()).collect();
    assert_eq!(g, [Status::Excluded, Status::Unmatched]);
    let e = m.groups().next().unwrap().evidence();
    assert_eq!(
        (e[0].outcome, e[0].values.clone()),
        (Outcome::Excluded, vec!["old*".to_owned()])
    );
    assert_eq!(
        m.warnings(),
        [
            Warning::ExcludedNothing("nothing-*".into()),
            // An empty target: nothing is at a.com there.
            Warning::UnmappedSourceDomain {
                domain: "a.com".into(),
                users: 1
            }
        ]
    );
}

#[test]
fn s3_an_override_wins_over_the_rules_and_over_an_exclusion() {
    let src = [
        user(1, "ann@a.com", |u| u.employee_id = s("e1")),
        user(3, "gone@a.com", |u| u.account_enabled = Patch::Value(false)),
    ];
    let tgt = [
        user(2, "x@b.com", |u| u.employee_id = s("e1")),
        user(4, "y@b.com", |_| {}),
        user(6, "z@b.com", |_| {}),
    ];
    let mut c = Config::new();
    c.override_user("ann@a.com", "y@b.com").unwrap();
    c.override_user("GONE@a.com", "z@b.com").unwrap();
    run(&src, &tgt, &c, |m| {
        assert_eq!(outcome(m, "ann@a.com"), matched("override", "y@b.com"));
        assert_eq!(outcome(m, "gone@a.com"), matched("override", "z@b.com"));
        let e = m.user(m.source().user_by_upn("gone@a.com").unwrap()).evidence();
        let kinds: Vec<_> = e.iter().map(|e| (e.rule, e.outcome)).collect();
        assert_eq!(
            kinds,
            [
                (Rule::AccountEnabled, Outcome::Excluded),
                (Rule::Override, Outcome::Matched)
            ]
        );
    });
}

#[test]
fn s3_a_target_claimed_by_an_override_is_a_conflict_for_the_rules() {
    let src = [
        user(1, "dave@a.com", |_| {}),
        user(3, "dan@a.com", |u| u.on_premises_immutable_id = s("q9")),
    ];
    let tgt = [user(2, "dan@b.com", |u| u.on_premises_immutable_id = s("q9"))];
    let mut c = Config::new();
    c.override_user("dave@a.com", "dan@b.com").unwrap();
    run(&src, &tgt, &c, |m| {
        assert_eq!(
            outcome(m, "dan@a.com"),
            (Status::Conflict, Some("onPremisesImmutableId".into()), None)
        );
        let dan = m.user(m.source().user_by_upn("dan@a.com").unwrap());
        assert_eq!(dan.candidates()[0].user_principal_name(), "dan@b.com");
        let taken = m.user_claiming(dan.candidates()[0]).unwrap();
        assert_eq!(taken.user_principal_name(), "dave@a.com");
    });
}

#[test]
fn s3_names_the_directories_do_not_hold_stop_matching_all_listed() {
    let (sd, td) = (dir(1, &[user(1, "ann@a.com", |_| {})], &[]), dir(2, &[], &[]));
    let mut c = Config::new();
    c.override_user("ann@a.com", "nobody@b.com").unwrap();
    c.override_user("ghost@a.com", "other@b.com").unwrap();
    c.override_group(Guid::from_u128(9), Guid::from_u128(8)).unwrap();
    c.admin("root@a.com").unwrap();
    let e: MatchError = match_directories(&sd, &td, &c).unwrap_err();
    let MatchError::Unknown(unknown) = &e else {
        panic!("{e}")
    };
    assert_eq!(
        *unknown,
        [
            Unknown::OverrideTargetUser("nobody@b.com".into()),
            Unknown::OverrideSourceUser("ghost@a.com".into()),
            Unknown::OverrideTargetUser("other@b.com".into()),
            Unknown::OverrideSourceGroup(Guid::from_u128(9).to_string()),
            Unknown::OverrideTargetGroup(Guid::from_u128(8).to_string()),
            Unknown::Admin("root@a.com".into()),
        ]
    );
    assert!(e.to_string().starts_with("6 name(s)"), "{e}");
}

#[test]
fn s4_a_value_two_sources_share_makes_both_ambiguous() {
    let src = [
        user(1, "a1@a.com", |u| u.employee_id = s("7")),
        user(3, "a2@a.com", |u| u.employee_id = s("7")),
    ];
    let tgt = [user(2, "x@b.com", |u| u.employee_id = s("7"))];
    run(&src, &tgt, &Config::new(), |m| {
        assert_eq!(
            outcome(m, "a1@a.com"),
            (Status::Ambiguous, Some("employeeId".into()), None)
        );
        let row = m.user(m.source().user_by_upn("a1@a.com").unwrap());
        let e = &row.evidence()[0];
        assert_eq!(e.outcome, Outcome::Ambiguous);
        assert_eq!(e.others[0].user_principal_name(), "a2@a.com");
        assert_eq!(row.candidates()[0].user_principal_name(), "x@b.com");
    });
}

#[test]
fn s4_a_value_two_targets_share_is_ambiguous_and_lists_both() {
    let src = [user(1, "bob@a.com", |u| u.employee_id = s("0"))];
    let tgt = [
        user(2, "b.one@b.com", |u| u.employee_id = s("0")),
        user(4, "b.two@b.com", |u| u.employee_id = s("0")),
    ];
    run(&src, &tgt, &Config::new(), |m| {
        assert_eq!(
            outcome(m, "bob@a.com"),
            (Status::Ambiguous, Some("employeeId".into()), None)
        );
        let row = m.users().next().unwrap();
        let c: Vec<_> = row.candidates().iter().map(|t| t.user_principal_name()).collect();
        assert_eq!(c, ["b.one@b.com", "b.two@b.com"]);
    });
}

#[test]
fn s4_an_ambiguous_source_goes_on_and_a_later_rule_may_match_it() {
    let src = [user(1, "cat@a.com", |u| u.employee_id = s("0"))];
    let tgt = [
        user(2, "cat@b.com", |u| u.employee_id = s("0")),
        user(4, "other@b.com", |u| u.employee_id = s("0")),
    ];
    run(&src, &tgt, &config(&["a.com=b.com"]), |m| {
        assert_eq!(outcome(m, "cat@a.com"), matched("userPrincipalName", "cat@b.com"));
        let e = m.users().next().unwrap().evidence();
        let kinds: Vec<_> = e.iter().map(|e| (e.rule, e.outcome)).collect();
        assert_eq!(
            kinds,
            [
                (Rule::EmployeeId, Outcome::Ambiguous),
                (Rule::UserPrincipalName, Outcome::Matched)
            ]
        );
        assert_eq!(e[1].values, ["cat@b.com"]);
    });
}

#[test]
fn s4_a_conflict_is_final_even_when_a_weaker_rule_would_match() {
    // dan's employee id points only at x, already matched to ann by immutable id; dan's UPN would match
    // dan@b.com uniquely, but a strong identifier saying "someone else" must be looked at.
    let src = [
        user(1, "ann@a.com", |u| {
            u.on_premises_immutable_id = s("q1");
            u.employee_id = s("e5");
        }),
        user(3, "dan@a.com", |u| u.employee_id = s("e5")),
    ];
    let tgt = [
        user(2, "x@b.com", |u| {
            u.on_premises_immutable_id = s("q1");
            u.employee_id = s("e5");
        }),
        user(4, "dan@b.com", |_| {}),
    ];
    run(&src, &tgt, &config(&["a.com=b.com"]), |m| {
        assert_eq!(outcome(m, "ann@a.com"), matched("onPremisesImmutableId", "x@b.com"));
        assert_eq!(
            outcome(m, "dan@a.com"),
            (Status::Conflict, Some("employeeId".into()), None)
        );
        let review: Vec<_> = m.review().collect();
        assert!(review[1].reason.contains("taken by ann@a.com"), "{}", review[1].reason);
    });
}

#[test]
fn s4_earlier_matches_resolve_a_shared_value_by_elimination() {
    let src = [
        user(1, "a@a.com", |u| {
            u.employee_id = s("7");
            u.on_premises_immutable_id = s("q1");
        }),
        user(3, "b@a.com", |u| u.employee_id = s("7")),
    ];
    let tgt = [
        user(2, "x@b.com", |u| {
            u.employee_id = s("7");
            u.on_premises_immutable_id = s("q1");
        }),
        user(4, "y@b.com", |u| u.employee_id = s("7")),
    ];
    run(&src, &tgt, &Config::new(), |m| {
        assert_eq!(outcome(m, "a@a.com"), matched("onPremisesImmutableId", "x@b.com"));
        assert_eq!(outcome(m, "b@a.com"), matched("employeeId", "y@b.com"));
    });
}

#[test]
fn s5_rules_run_in_order_immutable_id_first() {
    let src = [user(1, "ann@a.com", |u| {
        u.on_premises_immutable_id = s("q1");
        u.employee_id = s("e1");
    })];
    let tgt = [
        user(2, "x@b.com", |u| u.on_premises_immutable_id = s("Q1")),
        user(4, "ann@b.com", |u| u.employee_id = s("e1")),
    ];
    run(&src, &tgt, &config(&["a.com=b.com"]), |m| {
        assert_eq!(outcome(m, "ann@a.com"), matched("onPremisesImmutableId", "x@b.com"));
    });
}

#[test]
fn s5_upns_compare_after_domain_rewrites_and_unmapped_domains_as_they_are() {
    let src = [
        user(1, "Ann@Contoso.com", |_| {}),
        user(3, "bob@shared.org", |_| {}),
        user(5, "cat@contoso.com", |_| {}),
    ];
    let tgt = [
        user(2, "ann@fabrikam.com", |_| {}),
        user(4, "BOB@shared.org", |_| {}),
        user(6, "cat@contoso.com", |_| {}),
    ];
    run(&src, &tgt, &config(&["contoso.com=fabrikam.com"]), |m| {
        assert_eq!(
            outcome(m, "ann@contoso.com"),
            matched("userPrincipalName", "ann@fabrikam.com")
        );
        assert_eq!(
            outcome(m, "bob@shared.org"),
            matched("userPrincipalName", "BOB@shared.org")
        );
        // A mapped domain no longer compares as itself.
        assert_eq!(outcome(m, "cat@contoso.com").0, Status::Unmatched);
    });
}

#[test]
fn s5_two_source_domains_mapped_to_one_make_their_users_ambiguous() {
    let src = [
        user(1, "ann@contoso.com", |_| {}),
        user(3, "ann@contoso.onmicrosoft.com", |_| {}),
    ];
    let tgt = [user(2, "ann@fabrikam.com", |_| {})];
    let c = config(&["contoso.com=fabrikam.com", "contoso.onmicrosoft.com=fabrikam.com"]);
    run(&src, &tgt, &c, |m| {
        assert_eq!(outcome(m, "ann@contoso.com").0, Status::Ambiguous);
        assert_eq!(outcome(m, "ann@contoso.onmicrosoft.com").0, Status::Ambiguous);
    });
}

#[test]
fn s5_ext_upns_never_take_part_and_guests_match_by_address() {
    let guest = "jane_partner.com#EXT#@contoso.onmicrosoft.com";
    let src = [
        user(1, guest, |u| {
            u.user_type = s("Guest");
            u.mail = s("Jane@Partner.com");
        }),
        user(3, "ext_x.org#EXT#@contoso.onmicrosoft.com", |_| {}),
    ];
    let tgt = [
        user(2, "jane_partner.com#EXT#@fabrikam.onmicrosoft.com", |u| {
            u.other_mails = list(&["jane@partner.com"])
        }),
        user(4, "ext_x.org#EXT#@fabrikam.onmicrosoft.com", |_| {}),
    ];
    let c = config(&["contoso.onmicrosoft.com=fabrikam.onmicrosoft.com"]);
    run(&src, &tgt, &c, |m| {
        assert_eq!(outcome(m, guest).0, Status::Matched);
        assert_eq!(outcome(m, guest).1.as_deref(), Some("email"));
        // Equal after the rewrite, but #EXT# UPNs are no evidence.
        assert_eq!(
            outcome(m, "ext_x.org#ext#@contoso.onmicrosoft.com").0,
            Status::Unmatched
        );
    });
}

#[test]
fn s5_email_uses_every_address_rewritten_and_the_evidence_is_what_both_share() {
    let src = [user(1, "u1@contoso.com", |u| {
        u.mail = s("Ann.Lee@contoso.com");
        u.proxy_addresses = list(&["SMTP:ann.lee@contoso.com", "smtp:al@contoso.com"]);
    })];
    let tgt = [user(2, "ann.smith@fabrikam.com", |u| {
        u.proxy_addresses = list(&["SMTP:ann.smith@fabrikam.com", "smtp:al@fabrikam.com"]);
    })];
    run(&src, &tgt, &config(&["contoso.com=fabrikam.com"]), |m| {
        assert_eq!(outcome(m, "u1@contoso.com"), matched("email", "ann.smith@fabrikam.com"));
        let e = m.users().next().unwrap().evidence();
        assert_eq!(e.last().unwrap().values, ["al@fabrikam.com"]);
    });
}

#[test]
fn s5_an_ambiguous_address_names_only_the_address_shared() {
    // Two helpdesk accounts share one mailbox address; each has its own secondary address too.
    let src = [
        user(1, "helpdesk1@contoso.com", |u| {
            u.mail = s("helpdesk@contoso.com");
            u.proxy_addresses = list(&["SMTP:helpdesk@contoso.com", "smtp:helpdesk1@contoso.com"]);
        }),
        user(3, "helpdesk2@contoso.com", |u| {
            u.mail = s("helpdesk@contoso.com");
            u.proxy_addresses = list(&["SMTP:helpdesk@contoso.com", "smtp:helpdesk2@contoso.com"]);
        }),
    ];
    let tgt = [user(2, "helpdesk@fabrikam.com", |u| {
        u.mail = s("helpdesk@fabrikam.com")
    })];
    run(&src, &tgt, &config(&["contoso.com=fabrikam.com"]), |m| {
        assert_eq!(outcome(m, "helpdesk1@contoso.com").0, Status::Ambiguous);
        let row = m.users().next().unwrap();
        let e = row.evidence();
        assert_eq!(e[0].values, ["helpdesk@fabrikam.com"]);
        let reason = row.review().reason;
        assert!(!reason.contains("helpdesk1@"), "{reason}");
        assert!(reason.contains("email \"helpdesk@fabrikam.com\" is shared"), "{reason}");
    });
}

#[test]
fn s5_open_users_at_a_domain_no_mapping_rewrites_and_no_target_holds_are_warned() {
    let src = [
        user(1, "ann@contoso-legacy.com", |_| {}),
        user(3, "bob@contoso-legacy.com", |_| {}),
        user(5, "cat@contoso.com", |_| {}),
        user(7, "dan@shared.org", |_| {}),
        user(9, "eve@contoso.onmicrosoft.com", |_| {}),
        user(11, "guest_x.org#EXT#@contoso.onmicrosoft.com", |u| {
            u.user_type = s("Guest")
        }),
    ];
    let tgt = [
        user(2, "ann@fabrikam.com", |_| {}),
        user(4, "bob@fabrikam.com", |_| {}),
        user(6, "cat@fabrikam.com", |_| {}),
        // A domain the target holds too compares as it is: not flagged, though unmatched.
        user(8, "zed@shared.org", |_| {}),
    ];
    run(&src, &tgt, &config(&["contoso.com=fabrikam.com"]), |m| {
        assert_eq!(outcome(m, "ann@contoso-legacy.com").0, Status::Unmatched);
        assert_eq!(
            m.warnings(),
            [
                Warning::UnmappedSourceDomain {
                    domain: "contoso-legacy.com".into(),
                    users: 2
                },
                Warning::UnmappedSourceDomain {
                    domain: "contoso.onmicrosoft.com".into(),
                    users: 1
                },
            ]
        );
        let reasons: Vec<String> = m.review().map(|r| r.reason).collect();
        assert!(
            reasons[0].contains("no --map-domain rewrites contoso-legacy.com"),
            "{reasons:?}"
        );
        let flagged = reasons.iter().filter(|r| r.contains("--map-domain")).count();
        assert_eq!(flagged, 3, "{reasons:?}");
    });
    let c = config(&["contoso.com=fabrikam.com", "contoso-legacy.com=fabrikam.com"]);
    run(&src, &tgt, &c, |m| {
        assert_eq!(
            outcome(m, "ann@contoso-legacy.com"),
            matched("userPrincipalName", "ann@fabrikam.com")
        );
        assert_eq!(
            m.warnings(),
            [Warning::UnmappedSourceDomain {
                domain: "contoso.onmicrosoft.com".into(),
                users: 1
            }]
        );
    });
}

#[test]
fn s5_a_target_guest_invited_for_a_source_member_matches_by_the_address_as_it_is() {
    // Bob stays in the source tenant; the target invited him as a guest, with his own address.
    let src = [user(1, "bjones@contoso.com", |u| u.mail = s("Bob@contoso.com"))];
    let tgt = [user(2, "bob_contoso.com#EXT#@fabrikam.onmicrosoft.com", |u| {
        u.user_type = s("Guest");
        u.mail = s("bob@contoso.com");
    })];
    run(&src, &tgt, &config(&["contoso.com=fabrikam.com"]), |m| {
        assert_eq!(
            outcome(m, "bjones@contoso.com"),
            matched("email", "bob_contoso.com#EXT#@fabrikam.onmicrosoft.com")
        );
        assert_eq!(
            m.users().next().unwrap().evidence().last().unwrap().values,
            ["bob@contoso.com"]
        );
    });
    // With a member account holding his rewritten address as well, two targets claim him: a person
    // decides.
    let both = [
        tgt[0].clone(),
        user(4, "robert@fabrikam.com", |u| u.mail = s("bob@fabrikam.com")),
    ];
    run(&src, &both, &config(&["contoso.com=fabrikam.com"]), |m| {
        assert_eq!(outcome(m, "bjones@contoso.com").0, Status::Ambiguous);
    });
}

#[test]
fn s5_an_address_on_two_targets_is_ambiguous() {
    let src = [user(1, "u@a.com", |u| u.mail = s("home@mail.org"))];
    let tgt = [
        user(2, "x@b.com", |u| u.other_mails = list(&["home@mail.org"])),
        user(4, "y@b.com", |u| u.other_mails = list(&["home@mail.org"])),
    ];
    run(&src, &tgt, &Config::new(), |m| {
        assert_eq!(outcome(m, "u@a.com").0, Status::Ambiguous)
    });
}

fn groups_of(
    src: &[crossmap_model::directory::Group],
    tgt: &[crossmap_model::directory::Group],
    c: &Config,
) -> Vec<(Status, Option<Rule>, Option<Guid>)> {
    let (sd, td) = (dir(1, &[], src), dir(2, &[], tgt));
    let m = match_directories(&sd, &td, c).unwrap();
    m.groups()
        .map(|r| (r.status(), r.rule(), r.target().map(|t| t.id())))
        .collect()
}

#[test]
fn s6_groups_match_by_mail_nickname_then_display_name_within_one_kind() {
    let src = [
        group(1, "Sales", "SALES", true),
        group(2, "Finance", "fin-old", false),
        group(3, "HR", "hr", true),
    ];
    let tgt = [
        group(11, "Sales team", "sales", true),
        group(12, "finance ", "fin", false),
        group(13, "HR", "hr", false), // another kind: never a match
    ];
    let got = groups_of(&src, &tgt, &Config::new());
    assert_eq!(
        got[0],
        (Status::Matched, Some(Rule::MailNickname), Some(Guid::from_u128(11)))
    );
    assert_eq!(
        got[1],
        (Status::Matched, Some(Rule::DisplayName), Some(Guid::from_u128(12)))
    );
    assert_eq!(got[2].0, Status::Unmatched);
    // ...but the same name of another kind is suggested.
    let (sd, td) = (dir(1, &[], &src), dir(2, &[], &tgt));
    let m = match_directories(&sd, &td, &Config::new()).unwrap();
    let hr = m.groups().nth(2).unwrap();
    assert_eq!(hr.candidates()[0].id(), Guid::from_u128(13));
}

#[test]
fn s6_two_groups_with_one_name_are_ambiguous_and_overrides_decide() {
    let src = [group(1, "Finance", "f1", false)];
    let tgt = [group(11, "Finance", "f2", false), group(12, "FINANCE", "f3", false)];
    assert_eq!(groups_of(&src, &tgt, &Config::new())[0].0, Status::Ambiguous);
    let mut c = Config::new();
    c.override_group(Guid::from_u128(1), Guid::from_u128(12)).unwrap();
    assert_eq!(
        groups_of(&src, &tgt, &c)[0],
        (Status::Matched, Some(Rule::Override), Some(Guid::from_u128(12)))
    );
}

#[test]
fn s6_group_reasons_name_every_group_they_mention_not_only_its_id() {
    // Two source "Finance" groups, one target "Finance": an override picks one, the other is a conflict.
    let src = [
        group(1, "Finance", "finance", false),
        group(2, "Finance", "finance-old", false),
        group(3, "Marketing", "marketing", true),
    ];
    let tgt = [
        group(11, "Finance", "fin", false),
        group(12, "Marketing", "mkt-sec", false),
    ];
    let (sd, td) = (dir(1, &[], &src), dir(2, &[], &tgt));
    let mut c = Config::new();
    c.override_group(Guid::from_u128(1), Guid::from_u128(11)).unwrap();
    let m = match_directories(&sd, &td, &c).unwrap();
    let rows: Vec<_> = m.review().collect();
    let (g1, g11, g12) = (Guid::from_u128(1), Guid::from_u128(11), Guid::from_u128(12));
    assert_eq!(rows[1].status, Status::Conflict);
    assert_eq!(
        rows[1].reason,
        format!(
            "\"Finance\" (security): displayName \"finance\" points only to {g11} \"Finance\" (taken by {g1} \"Finance\")"
        )
    );
    // The candidates column keeps bare ids, for scripts.
    assert_eq!(rows[2].candidates, g12.to_string());
    assert!(
        rows[2]
            .reason
            .ends_with(&format!("suggestion, never a match): {g12} \"Marketing\"")),
        "{}",
        rows[2].reason
    );
}

#[test]
fn s7_a_namesake_is_a_suggestion_never_a_match() {
    // The departed John Smith (included here on purpose) and another John Smith in the target.
    let src = [user(1, "john.smith@a.com", |u| u.display_name = s("John Smith"))];
    let tgt = [
        user(2, "jsmith2@b.com", |u| u.display_name = s("john smith")),
        user(4, "jsmith3@b.com", |u| {
            u.display_name = s("John Smith");
            u.employee_id = s("e9");
        }),
    ];
    let src2 = [src[0].clone(), user(3, "other@a.com", |u| u.employee_id = s("e9"))];
    run(&src2, &tgt, &Config::new(), |m| {
        assert_eq!(outcome(m, "john.smith@a.com"), (Status::Unmatched, None, None));
        let row = m.user(m.source().user_by_upn("john.smith@a.com").unwrap());
        // Only unclaimed namesakes are suggested: jsmith3 went to other@a.com.
        let c: Vec<_> = row.candidates().iter().map(|t| t.user_principal_name()).collect();
        assert_eq!(c, ["jsmith2@b.com"]);
        assert_eq!(row.evidence()[0].outcome, Outcome::Suggested);
        assert_eq!(m.user_mappings().count(), 1);
    });
}

#[test]
fn s7_candidate_lists_are_capped_and_say_so() {
    let src = [user(1, "bob@a.com", |u| u.employee_id = s("0"))];
    let tgt: Vec<_> = (0..25)
        .map(|i| user(100 + i, &format!("t{i:02}@b.com"), |u| u.employee_id = s("0")))
        .collect();
    run(&src, &tgt, &Config::new(), |m| {
        let row = m.users().next().unwrap();
        assert_eq!(row.candidates().len(), MAX_CANDIDATES);
        assert_eq!(row.candidates()[0].user_principal_name(), "t00@b.com");
        assert!(row.evidence()[0].more);
        assert!(m.review().next().unwrap().candidates.ends_with(" …"));
    });
}
