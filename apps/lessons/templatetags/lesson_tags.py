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
