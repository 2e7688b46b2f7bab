from django.core.management.base import BaseCommand

from apps.lessons.models import Lesson
from apps.lessons.selectors import QUIZ_GUESSERS, quiz_guessers


class Command(BaseCommand):
    help = (
        "How a learner who picks the longest (or wordiest, or shortest) choice without reading "
        "would score on each published lesson's quiz."
    )

    def handle(self, *args, **options):
        results = quiz_guessers(lessons=Lesson.objects.visible().select_related("phase"))
        names = list(QUIZ_GUESSERS)
        self.stdout.write(f"{'lesson':<52} {'questions':>9}  " + "  ".join(f"{n:>10}" for n in names))
        for result in results:
            passed = set(result.passed_by())
            cells = [
                f"{result.right[n]:.3g}/{result.questions}{' PASS' if n in passed else ''}" for n in names
            ]
            label = f"{result.lesson.phase.slug}/{result.lesson.slug}"
            self.stdout.write(f"{label:<52} {result.questions:>9}  " + "  ".join(f"{c:>10}" for c in cells))
        single = sum(r.single for r in results)
        for name in names:
            passes = sum(name in r.passed_by() for r in results)
            right = sum(r.right[name] for r in results)
            share = 100 * passes / len(results) if results else 0
            self.stdout.write(
                f"{name}: passes {passes} of {len(results)} lessons ({share:.0f} %); "
                f"picks the correct choice in {right:.3g} of {single} single-answer questions"
            )
