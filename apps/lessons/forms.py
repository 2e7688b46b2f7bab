import re

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core import inputs
from apps.lessons.models import STUCK_COMMENT_MAX_LENGTH

CHOICE_ID = re.compile(r"[0-9]{1,18}")


class StuckForm(forms.Form):
    comment = forms.CharField(
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "placeholder": _("What is unclear? (optional)"),
                "maxlength": STUCK_COMMENT_MAX_LENGTH,
            }
        ),
    )
    signed = forms.BooleanField(required=False, label=_("Show my name with this comment"))

    def clean_comment(self) -> str:
        comment = self.cleaned_data["comment"]
        return inputs.form_text(comment, field="comment", max_length=STUCK_COMMENT_MAX_LENGTH, multiline=True)


def parse_quiz_answers(data, choices: dict[int, set[int]]) -> dict[int, set[int]]:
    """Read `q<question id>` fields (one or several choice ids each) for the questions in `choices`.

    A value that is not one of that question's choices is refused (InvalidInput), not
    ignored: it is a stale page (the quiz changed) or a forged form, never an answer.
    """
    answers: dict[int, set[int]] = {}
    for question_id, valid in choices.items():
        chosen = set()
        for raw in data.getlist(f"q{question_id}"):
            if not (CHOICE_ID.fullmatch(raw) and int(raw) in valid):
                raise inputs.InvalidInput(
                    gettext(
                        "These answers do not fit this quiz (it may have changed since the page was opened): "
                        "reload the page and answer again."
                    ),
                    field=f"q{question_id}",
                    value=raw,
                )
            chosen.add(int(raw))
        answers[question_id] = chosen
    return answers
