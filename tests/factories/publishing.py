import factory
from django.utils import timezone
from django.utils.text import slugify

from publishing.models import Publication


class PublicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Publication
        skip_postgeneration_save = True

    title = factory.Faker("sentence", nb_words=6)
    slug = factory.LazyAttributeSequence(lambda o, n: f"{slugify(o.title)[:180]}-{n}")
    summary = factory.Faker("paragraph")
    body = factory.Faker("text", max_nb_chars=1200)

    @factory.post_generation
    def topics(self, create, extracted, **kwargs):
        if create and extracted:
            self.topics.set(extracted)

    class Params:
        published = factory.Trait(
            state=Publication.State.PUBLISHED,
            published_at=factory.LazyFunction(timezone.now),
        )
