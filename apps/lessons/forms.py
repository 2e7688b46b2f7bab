from django import forms


class StuckForm(forms.Form):
    comment = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What is unclear? (optional)"}),
    )
    signed = forms.BooleanField(required=False, label="Show my name with this comment")


def parse_quiz_answers(data, question_ids: list[int]) -> dict[int, set[int]]:
    """Read `q<id>` fields (one or several choice ids each); ignore anything malformed."""
    answers: dict[int, set[int]] = {}
    for question_id in question_ids:
        chosen = set()
        for raw in data.getlist(f"q{question_id}"):
            if raw.isdigit() and len(raw) < 19:
                chosen.add(int(raw))
        answers[question_id] = chosen
    return answers
