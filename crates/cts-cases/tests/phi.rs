//! The PHI guard flags direct identifiers and leaves clinical text alone.

use cts_cases::phi::{scan, scan_case, PhiKind};
use cts_cases::{Case, CaseId};

/// Asserts that `text` yields exactly one finding, of `kind`, covering `expected`.
fn assert_flags(text: &str, kind: PhiKind, expected: &str) {
    let findings = scan(text);
    assert_eq!(findings.len(), 1, "{text:?}: {findings:?}");
    assert_eq!(findings[0].kind, kind, "{text:?}");
    assert_eq!(&text[findings[0].span.clone()], expected, "{text:?}");
}

fn assert_clean(text: &str) {
    let findings = scan(text);
    let shown: Vec<_> = findings
        .iter()
        .map(|f| (f.kind, &text[f.span.clone()]))
        .collect();
    assert!(findings.is_empty(), "{text:?} flagged: {shown:?}");
}

#[test]
fn flags_email_addresses() {
    assert_flags(
        "Contact jane.doe@example.com for results.",
        PhiKind::Email,
        "jane.doe@example.com",
    );
    assert_flags(
        "email: j_smith+lab@mail.hospital.org",
        PhiKind::Email,
        "j_smith+lab@mail.hospital.org",
    );
}

#[test]
fn flags_us_phone_numbers() {
    assert_flags(
        "Call (555) 123-4567 after 5 pm.",
        PhiKind::Phone,
        "(555) 123-4567",
    );
    assert_flags(
        "Her number is 555-123-4567.",
        PhiKind::Phone,
        "555-123-4567",
    );
    assert_flags("Reach him at 555.123.4567", PhiKind::Phone, "555.123.4567");
    assert_flags("Tel: +1 555 123 4567", PhiKind::Phone, "+1 555 123 4567");
}

#[test]
fn flags_international_phone_numbers() {
    assert_flags(
        "Daughter: +44 20 7946 0958",
        PhiKind::Phone,
        "+44 20 7946 0958",
    );
    assert_flags(
        "ring +49 30 1234567 today",
        PhiKind::Phone,
        "+49 30 1234567",
    );
}

#[test]
fn flags_labelled_phone_numbers_without_usual_separators() {
    assert_flags("phone: 020 7946 0958", PhiKind::Phone, "020 7946 0958");
    assert_flags("mobile 07700 900123", PhiKind::Phone, "07700 900123");
    assert_flags("fax no. 5551234567", PhiKind::Phone, "5551234567");
}

#[test]
fn flags_social_security_numbers() {
    assert_flags("SSN 123-45-6789 on file", PhiKind::Ssn, "123-45-6789");
    assert_flags(
        "social security number: 123456789",
        PhiKind::Ssn,
        "123456789",
    );
    assert_flags("ID 078-05-1120.", PhiKind::Ssn, "078-05-1120");
}

#[test]
fn flags_medical_record_numbers() {
    assert_flags("MRN 12345678", PhiKind::MedicalRecordNumber, "12345678");
    assert_flags(
        "MRN: 00123456, admitted",
        PhiKind::MedicalRecordNumber,
        "00123456",
    );
    assert_flags(
        "medical record number: 4455667",
        PhiKind::MedicalRecordNumber,
        "4455667",
    );
    assert_flags(
        "Patient ID 98765432",
        PhiKind::MedicalRecordNumber,
        "98765432",
    );
    assert_flags(
        "hospital number AB123456",
        PhiKind::MedicalRecordNumber,
        "AB123456",
    );
    assert_flags(
        "NHS number 943 476 5919",
        PhiKind::MedicalRecordNumber,
        "943 476 5919",
    );
    assert_flags(
        "record no. 1234567 reviewed",
        PhiKind::MedicalRecordNumber,
        "1234567",
    );
    assert_flags(
        "encounter #20231145",
        PhiKind::MedicalRecordNumber,
        "20231145",
    );
}

#[test]
fn flags_dates_of_birth() {
    assert_flags("DOB 03/04/1961", PhiKind::DateOfBirth, "03/04/1961");
    assert_flags("D.O.B.: 3-4-61", PhiKind::DateOfBirth, "3-4-61");
    assert_flags(
        "She was born on March 4, 1961.",
        PhiKind::DateOfBirth,
        "March 4, 1961",
    );
    assert_flags(
        "date of birth: 4 March 1961",
        PhiKind::DateOfBirth,
        "4 March 1961",
    );
    assert_flags("DOB 1961-03-04", PhiKind::DateOfBirth, "1961-03-04");
    assert_flags(
        "born 4th of Sept. 1961",
        PhiKind::DateOfBirth,
        "4th of Sept. 1961",
    );
    assert_flags(
        "Birthdate is Jan 12 1950",
        PhiKind::DateOfBirth,
        "Jan 12 1950",
    );
}

#[test]
fn flags_street_addresses() {
    assert_flags(
        "lives at 123 Main Street alone",
        PhiKind::StreetAddress,
        "123 Main Street",
    );
    assert_flags("45 Oak Ave", PhiKind::StreetAddress, "45 Oak Ave");
    assert_flags(
        "moved to 7 North Elm Rd. last year",
        PhiKind::StreetAddress,
        "7 North Elm Rd.",
    );
    assert_flags(
        "1600 Pennsylvania Avenue",
        PhiKind::StreetAddress,
        "1600 Pennsylvania Avenue",
    );
    assert_flags(
        "221B Baker Street",
        PhiKind::StreetAddress,
        "221B Baker Street",
    );
    assert_flags("350 5th Avenue", PhiKind::StreetAddress, "350 5th Avenue");
    assert_flags("P.O. Box 1234", PhiKind::StreetAddress, "P.O. Box 1234");
}

#[test]
fn finds_several_identifiers_in_order() {
    let text = "Mr X, DOB 01/02/1950, MRN 7654321, lives at 12 High Street, phone 555-222-3333.";
    let kinds: Vec<_> = scan(text).into_iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        vec![
            PhiKind::DateOfBirth,
            PhiKind::MedicalRecordNumber,
            PhiKind::StreetAddress,
            PhiKind::Phone
        ]
    );
}

#[test]
fn spans_are_byte_ranges_in_non_ascii_text() {
    let text = "Patiënt — 5 µg/kg — e-mail: zoë.müller@example.org";
    let findings = scan(text);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(&text[findings[0].span.clone()], "zoë.müller@example.org");
}

#[test]
fn leaves_ages_doses_and_vital_signs_alone() {
    for text in [
        "A 72-year-old woman presents with dyspnoea.",
        "metformin 500 mg twice daily",
        "eGFR 28 mL/min/1.73 m2",
        "INR 3.2",
        "BP 150/90",
        "BP 150/90 mmHg, HR 110 bpm, RR 22/min, SpO2 91% on air",
        "on day 3 of admission",
        "HbA1c 8.2% (66 mmol/mol)",
        "platelets 150,000/µL",
        "WBC 12.5 x 10^9/L, CRP 145 mg/L",
        "QTc 520 ms",
        "potassium 6.2 mmol/L, sodium 128 mmol/L, creatinine 2.4 mg/dL",
        "warfarin 5 mg on days 1-3, then per INR",
        "12-lead ECG shows ST elevation in leads II, III and aVF",
        "2 mm ST depression in V4-V6",
        "G2P1 at 32 weeks' gestation",
        "0.9% sodium chloride 1000 mL over 8 hours",
        "troponin 0.45 ng/mL, rising to 1.20 ng/mL",
        "amoxicillin-clavulanate 875-125 mg",
        "Apgar scores 8 and 9",
        "reference range 135-145 mmol/L",
        "benzathine penicillin 2400000 units IM",
        "epinephrine 1:10,000, 0.1 mL/kg",
        "+2 pitting oedema to the knees, 3+ proteinuria",
        "ER+/PR+ breast cancer, HER2 negative",
        "CD4 count 350 cells/mm3, viral load 12000 copies/mL",
        "The 2019 ESC guideline recommends apixaban 2.5 mg twice daily.",
        "ICD-10 I48.91; NYHA class III",
        "patient-reported outcome measures",
        "a medical record review found no prior reactions",
        "She was born at 32 weeks' gestation.",
        "He was born in 1961 and retired in 2020.",
        "The study ran from January 1, 2010 to December 31, 2015.",
        "PMID 21645374",
        "Dose 15 mg/kg every 6 hours, maximum 60 mg/kg/day",
        "temperature 38.5 °C, pH 7.21, pCO2 6.1 kPa",
        "lives alone on the 3rd floor with 2 cats",
        "Call 911 if chest pain recurs.",
        "Take 1 tablet 3 times a day for 10-14 days",
        "Dr. Smith reviewed the 3 Main findings.",
        "ratio 1:1000; titre 1/128",
        "serum osmolality 295 mOsm/kg, urine 100-200-300 mL/h",
        "β-blocker, ≥ 65 years, 5 µg/kg/min",
        "患者，72岁，服用华法林 5 mg",
    ] {
        assert_clean(text);
    }
}

#[test]
fn scans_every_field_of_a_case_and_names_it() {
    let case = Case {
        id: CaseId::from("c1"),
        specialty: "cardiology".into(),
        question: "A 70-year-old man, MRN 12345678, on warfarin.".into(),
        options: vec!["Stop".into(), "Call 555-123-4567".into()],
        reference_answer: Some("A".into()),
        tags: vec![],
        source: Some("jane@example.com".into()),
    };
    let findings = scan_case(&case);
    let fields: Vec<_> = findings
        .iter()
        .map(|f| (f.field.as_str(), f.finding.kind))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("question", PhiKind::MedicalRecordNumber),
            ("options[1]", PhiKind::Phone),
            ("source", PhiKind::Email)
        ]
    );
    assert_eq!(
        findings[0].to_string(),
        "field \"question\": possible medical record number at bytes 23..31"
    );
}

#[test]
fn flags_dates_of_birth_written_with_month_names() {
    assert_flags("DOB: 14-Mar-1956", PhiKind::DateOfBirth, "14-Mar-1956");
    assert_flags("dob 14 MAR 56 per chart", PhiKind::DateOfBirth, "14 MAR 56");
    assert_flags("Born: 3/Sept/1949", PhiKind::DateOfBirth, "3/Sept/1949");
    assert_flags("D.O.B. Mar-14-1956", PhiKind::DateOfBirth, "Mar-14-1956");
}

#[test]
fn flags_admission_discharge_and_death_dates() {
    assert_flags(
        "Admitted on 03/14/2021 with sepsis.",
        PhiKind::EncounterDate,
        "03/14/2021",
    );
    assert_flags(
        "Admission date: 14-Mar-2021",
        PhiKind::EncounterDate,
        "14-Mar-2021",
    );
    assert_flags(
        "discharged to the ward on 2021-03-20",
        PhiKind::EncounterDate,
        "2021-03-20",
    );
    assert_flags(
        "Date of death: March 30, 2021",
        PhiKind::EncounterDate,
        "March 30, 2021",
    );
    assert_flags("DOA 3/14/21", PhiKind::EncounterDate, "3/14/21");
}

#[test]
fn flags_ages_over_89() {
    assert_flags(
        "A 92-year-old woman presents with syncope.",
        PhiKind::AgeOver89,
        "92",
    );
    assert_flags("93 yo M with chest pain", PhiKind::AgeOver89, "93");
    assert_flags("He is 101 years old.", PhiKind::AgeOver89, "101");
    assert_flags("a man aged 95 with AF", PhiKind::AgeOver89, "95");
    assert_flags("Age: 90", PhiKind::AgeOver89, "90");
    assert_flags("94 years of age", PhiKind::AgeOver89, "94");
}

#[test]
fn flags_zip_codes() {
    assert_flags("ZIP 02115", PhiKind::ZipCode, "02115");
    assert_flags("zip code: 02115-1234", PhiKind::ZipCode, "02115-1234");
    assert_flags("lives in Boston, MA 02115", PhiKind::ZipCode, "02115");
}

#[test]
fn flags_national_phone_numbers_without_a_country_code() {
    assert_flags("Son on 020 7946 0958", PhiKind::Phone, "020 7946 0958");
    assert_flags("GP (02) 9374 4000", PhiKind::Phone, "(02) 9374 4000");
    assert_flags("fille: 06 12 34 56 78", PhiKind::Phone, "06 12 34 56 78");
    assert_flags(
        "ring 0044 20 7946 0958",
        PhiKind::Phone,
        "0044 20 7946 0958",
    );
    assert_flags("ward 0171-234-5678", PhiKind::Phone, "0171-234-5678");
}

#[test]
fn leaves_clinical_ages_durations_and_counts_alone() {
    for text in [
        "A 89-year-old man with AF.",
        "aged 90 days, born at term",
        "infants aged 95 days or less",
        "90 mg/kg loading dose",
        "SpO2 92 % on air; FiO2 0.4",
        "A 45-year-old with 90 pack-years",
        "admitted for 3 days of IV antibiotics",
        "discharged home on day 5",
        "died within 90 days",
        "HR 110 bpm, RR 22, BP 90/60",
        "CA 125 was 35 U/mL",
        "0.9% sodium chloride 1000 mL",
        "dose 0 5 10 mg titration",
        "The trial enrolled 12000 patients in 2010.",
        "eligible adults (N=238) from 18-100 years of age",
        "a total of 2,262 persons aged 92 or 93 agreed to participate",
        "patients older than 90 years of age were excluded",
        "aged 90-99 years",
        "aged ≥90 years",
    ] {
        assert_clean(text);
    }
}

#[test]
fn finding_messages_never_echo_the_identifier() {
    let case = Case {
        id: CaseId::from("c1"),
        specialty: "cardiology".into(),
        question:
            "DOB: 14-Mar-1956, a 93-year-old, ZIP 02115, tel 020 7946 0958, admitted 03/14/2021."
                .into(),
        options: vec![],
        reference_answer: None,
        tags: vec![],
        source: None,
    };
    let findings = scan_case(&case);
    assert_eq!(findings.len(), 5, "{findings:?}");
    for f in &findings {
        let shown = f.to_string();
        let found = &case.question[f.finding.span.clone()];
        assert!(!shown.contains(found), "{shown:?} repeats {found:?}");
        assert!(shown.contains("question"), "{shown}");
    }
}
