from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    if not mapping:
        return None
    return mapping.get(key)


@register.filter
def is_multiple(question) -> bool:
    """More than one correct choice makes it "select all that apply"."""
    return sum(1 for choice in question.choices.all() if choice.correct) > 1


@register.filter
def language_name(code: str) -> str:
    """A language's name in that language ("日本語"), as a reader looks for their own."""
    from apps.accounts.models import LANGUAGES

    return LANGUAGES.get(code, code)
